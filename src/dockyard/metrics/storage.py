"""Count the blob store's failures (``dockyard_storage_errors_total``) at its boundary.

A wrapper rather than a hook in each driver: every driver, and every caller (requests,
upkeep loops), is counted the same way. Errors that describe the client's request rather
than the store (an unknown upload, a chunk at the wrong offset) are not storage errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from dockyard.metrics.instruments import STORAGE_ERRORS
from dockyard.oci.digest import Digest
from dockyard.storage.base import (
    BlobBody,
    BlobStore,
    OffsetMismatchError,
    StorageError,
    StoredBlob,
    UploadMissingError,
)

T = TypeVar("T")

_CLIENTS_FAULT = (UploadMissingError, OffsetMismatchError)


class CountingBlobStore:
    """A :class:`BlobStore` that counts the failures of the one it wraps."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.name = inner.name
        self._failures = {
            operation: STORAGE_ERRORS.labels(operation)
            for operation in (
                "start_upload",
                "upload_size",
                "append",
                "hash_upload",
                "commit",
                "cancel",
                "stat",
                "body",
                "read",
                "delete",
                "list_uploads",
                "list_blobs",
                "check",
            )
        }

    async def _counted(self, operation: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except StorageError as exc:
            if not isinstance(exc, _CLIENTS_FAULT):
                self._failures[operation].inc()
            raise

    async def start_upload(self) -> str:
        return await self._counted("start_upload", self.inner.start_upload())

    async def upload_size(self, key: str) -> int:
        return await self._counted("upload_size", self.inner.upload_size(key))

    async def append(
        self,
        key: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        hashers: list[object] | None = None,
    ) -> int:
        return await self._counted("append", self.inner.append(key, offset, chunks, hashers))

    async def hash_upload(self, key: str, algorithm: str) -> str:
        return await self._counted("hash_upload", self.inner.hash_upload(key, algorithm))

    async def commit(self, key: str, digest: Digest) -> int:
        return await self._counted("commit", self.inner.commit(key, digest))

    async def cancel(self, key: str) -> None:
        await self._counted("cancel", self.inner.cancel(key))

    async def stat(self, digest: Digest) -> int | None:
        return await self._counted("stat", self.inner.stat(digest))

    async def body(self, digest: Digest) -> BlobBody:
        return await self._counted("body", self.inner.body(digest))

    def open_stream(
        self, digest: Digest, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        return self._relay(self.inner.open_stream(digest, start, end))

    async def _relay(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        except StorageError as exc:
            if not isinstance(exc, _CLIENTS_FAULT):
                self._failures["read"].inc()
            raise
        finally:
            # A reader that stops early closes this generator: close the driver's too,
            # so its file or connection is given back now.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    async def delete(self, digest: Digest) -> None:
        await self._counted("delete", self.inner.delete(digest))

    async def list_uploads(self) -> list[tuple[str, float]]:
        return await self._counted("list_uploads", self.inner.list_uploads())

    async def list_blobs(self) -> list[StoredBlob]:
        return await self._counted("list_blobs", self.inner.list_blobs())

    async def check(self) -> None:
        await self._counted("check", self.inner.check())

    async def aclose(self) -> None:
        """Close the wrapped driver's connection pool, when it has one."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
