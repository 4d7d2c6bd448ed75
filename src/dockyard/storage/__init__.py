"""Content-addressed blob bytes. Metadata (who may see a blob) lives in the database."""

from dockyard.storage.base import (
    BlobBody,
    BlobStore,
    OffsetMismatchError,
    StorageError,
    UploadMissingError,
)

__all__ = ["BlobBody", "BlobStore", "OffsetMismatchError", "StorageError", "UploadMissingError"]
