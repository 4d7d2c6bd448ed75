"""Content-addressed blob bytes. Metadata (who may see a blob) lives in the database."""

from dockyard.storage.base import (
    BlobBody,
    BlobStore,
    OffsetMismatchError,
    StorageError,
    StoredBlob,
    UploadMissingError,
)

__all__ = [
    "BlobBody",
    "BlobStore",
    "OffsetMismatchError",
    "StorageError",
    "StoredBlob",
    "UploadMissingError",
]
