"""The blob-store contract every driver implements.

The upload lifecycle (start, append at an offset, commit under a digest, cancel) is cut
so that it maps one-to-one onto S3 multipart uploads: ``start_upload`` creates the
multipart upload, ``append`` adds parts, ``commit`` completes it under the content address.
Drivers move bytes only; digests are verified by the caller, which hashes while streaming.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.errors import DockyardError
from dockyard.oci.digest import Digest


class StorageError(DockyardError):
    """The driver could not complete an operation."""


class UploadMissingError(StorageError):
    """The upload key is unknown to the driver (cancelled, expired or never started)."""


class OffsetMismatchError(StorageError):
    """An append did not start where the upload currently ends."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"upload is at offset {expected}, chunk starts at {got}")
        self.expected = expected
        self.got = got


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """Committed bytes as the driver lists them, for garbage collection's orphan sweep."""

    digest: Digest
    size: int
    #: Last modification, epoch seconds: bytes younger than GC's grace period are left.
    modified: float


@dataclass(frozen=True, slots=True)
class BlobBody:
    """How a handler should send a blob: a local path (sendfile), a redirect URL, or (with
    ``stream``) the bytes of ``BlobStore.open_stream`` relayed by the handler."""

    size: int
    path: Path | None = None
    redirect_url: str | None = None
    stream: bool = False


class BlobStore(Protocol):
    """Content-addressed bytes with a resumable upload lifecycle."""

    name: str

    async def start_upload(self) -> str:
        """Create an empty upload and return its driver key."""
        ...

    async def upload_size(self, key: str) -> int:
        """Bytes stored so far; raises UploadMissingError."""
        ...

    async def append(
        self,
        key: str,
        offset: int,
        chunks: AsyncIterator[bytes],
        hashers: list[object] | None = None,
    ) -> int:
        """Write ``chunks`` at ``offset`` (which must equal the current size), feeding every
        chunk to each hasher in ``hashers`` as it is written; return the new size. The bytes
        are durable (fsynced) when this returns."""
        ...

    async def hash_upload(self, key: str, algorithm: str) -> str:
        """Recompute the hex digest of everything uploaded so far (used when the running
        hash state lives in another worker or node)."""
        ...

    async def commit(self, key: str, digest: Digest) -> int:
        """Atomically make the upload the blob ``digest`` and return its size. Idempotent
        when the blob already exists. The caller has verified the digest."""
        ...

    async def cancel(self, key: str) -> None:
        """Discard the upload's bytes. Unknown keys are ignored."""
        ...

    async def stat(self, digest: Digest) -> int | None:
        """The blob's size, or None when the bytes are absent."""
        ...

    async def body(self, digest: Digest) -> BlobBody:
        """How to send the blob; raises StorageError when the bytes are missing."""
        ...

    def open_stream(
        self, digest: Digest, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of a blob."""
        ...

    async def delete(self, digest: Digest) -> None:
        """Remove the blob's bytes; absent blobs are ignored."""
        ...

    async def list_uploads(self) -> list[tuple[str, float]]:
        """(key, last-modified epoch seconds) of every upload the driver holds, so
        abandoned uploads that no database row names can be reclaimed once old."""
        ...

    async def list_blobs(self) -> list[StoredBlob]:
        """Every committed blob the driver holds, so bytes no database row names (a crash
        between the rename and the commit) can be reclaimed."""
        ...

    async def check(self) -> None:
        """Raise StorageError when the store cannot serve (readiness probe)."""
        ...
