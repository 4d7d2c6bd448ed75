"""Filesystem blob store: temp file, hash while streaming, fsync, atomic rename."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from dockyard.errors import StorageFullError
from dockyard.oci.digest import Digest, DigestError
from dockyard.storage import layout
from dockyard.storage.base import (
    BlobBody,
    OffsetMismatchError,
    StorageError,
    StoredBlob,
    UploadMissingError,
)

#: Bytes gathered from the request before one write+hash call in a worker thread; large
#: enough that thread hand-offs cost little, small enough to bound memory per upload.
WRITE_BATCH = 1024 * 1024
READ_CHUNK = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(f: BinaryIO, data: bytes, hashers: list[Any], last: bool) -> None:
    """Write and hash one batch; the last one is synced to disk and closes the file."""
    f.write(data)
    for h in hashers:
        h.update(data)
    if last:
        f.flush()
        os.fsync(f.fileno())
        f.close()


async def _batched(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body regrouped into batches of at least :data:`WRITE_BATCH` bytes (but the last)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) >= WRITE_BATCH:
            yield bytes(buffer)
            buffer = bytearray()
    if buffer:
        yield bytes(buffer)


def _raise_for_os_error(exc: OSError) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise StorageFullError("blob storage is full") from exc
    raise StorageError(f"filesystem error: {exc.strerror}") from exc


class FilesystemBlobStore:
    """Blobs under one directory; safe for several worker processes sharing it."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("blobs", "uploads", "probe"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    async def start_upload(self) -> str:
        key = secrets.token_hex(16)
        path = layout.upload_path(self.root, key)

        # Inline, like the stat in append: creating an empty local file costs microseconds,
        # less than a thread hand-off. No fsync: an empty session is not accepted data,
        # and the first append fsyncs the file with its bytes.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            _raise_for_os_error(exc)
        return key

    async def upload_size(self, key: str) -> int:
        try:
            return os.stat(layout.upload_path(self.root, key)).st_size  # inline, as above
        except FileNotFoundError as exc:
            raise UploadMissingError(f"upload {key} not found") from exc

    async def append(
        self, key: str, offset: int, chunks: AsyncIterator[bytes], hashers: list[Any] | None = None
    ) -> int:
        """Write the body at ``offset`` under a cross-process lock; all or nothing.

        The body is gathered into batches of :data:`WRITE_BATCH` bytes, each written (and
        hashed) by one worker-thread call, the first one also opening, locking and checking
        the file, the last one also syncing and closing it: a small blob costs one thread
        hand-off, a large one one per MiB.
        """
        path = layout.upload_path(self.root, key)
        hashers = hashers or []
        # Refuse a wrong offset before reading any of the body (a stat of a local file
        # costs microseconds); the check under the lock below is the one that counts.
        try:
            size = os.stat(path).st_size
        except FileNotFoundError as exc:
            raise UploadMissingError(f"upload {key} not found") from exc
        if size != offset:
            raise OffsetMismatchError(size, offset)
        batches = _batched(chunks)
        data = await anext(batches, b"")
        upcoming = await anext(batches, None)
        f: BinaryIO = await anyio.to_thread.run_sync(
            self._open_and_write, path, offset, data, hashers, upcoming is None
        )
        if upcoming is None:
            return offset + len(data)
        end = offset + len(data)
        try:
            while upcoming is not None:
                data, upcoming = upcoming, await anext(batches, None)
                await anyio.to_thread.run_sync(_write, f, data, hashers, upcoming is None)
                end += len(data)
            return end
        except BaseException as exc:
            await anyio.to_thread.run_sync(self._abandon, f, offset)
            if isinstance(exc, OSError):
                _raise_for_os_error(exc)
            raise

    @classmethod
    def _open_and_write(
        cls, path: Path, offset: int, data: bytes, hashers: list[Any], last: bool
    ) -> BinaryIO:
        try:
            f: BinaryIO = open(path, "r+b")  # noqa: SIM115 - closed by the last write
        except FileNotFoundError as exc:
            raise UploadMissingError(f"upload {path.name} not found") from exc
        try:
            # A cross-process lock: two workers must never append to one upload at once.
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            size = os.fstat(f.fileno()).st_size
            if size != offset:
                raise OffsetMismatchError(size, offset)
        except BaseException:
            f.close()
            raise
        f.seek(offset)
        try:
            _write(f, data, hashers, last)
        except BaseException as exc:
            cls._abandon(f, offset)
            if isinstance(exc, OSError):
                _raise_for_os_error(exc)
            raise
        return f

    @staticmethod
    def _abandon(f: BinaryIO, offset: int) -> None:
        """A chunk is all or nothing: drop what this request wrote, and release the file."""
        try:
            with contextlib.suppress(OSError):
                f.flush()
            f.truncate(offset)
            os.fsync(f.fileno())
        finally:
            f.close()

    async def hash_upload(self, key: str, algorithm: str) -> str:
        path = layout.upload_path(self.root, key)

        def digest() -> str:
            h = hashlib.new(algorithm)
            with open(path, "rb") as f:
                while data := f.read(READ_CHUNK):
                    h.update(data)
            return h.hexdigest()

        try:
            return await anyio.to_thread.run_sync(digest)
        except FileNotFoundError as exc:
            raise UploadMissingError(f"upload {key} not found") from exc

    async def commit(self, key: str, digest: Digest) -> int:
        source = layout.upload_path(self.root, key)
        target = layout.blob_path(self.root, digest)

        def move() -> int:
            if not source.exists():
                if target.exists():
                    return target.stat().st_size
                raise UploadMissingError(f"upload {key} not found")
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                # Same content address means same bytes: keep the existing file.
                size = target.stat().st_size
                source.unlink(missing_ok=True)
                return size
            os.rename(source, target)
            _fsync_dir(target.parent)  # the blob's new name is durable before we acknowledge
            return target.stat().st_size

        try:
            return await anyio.to_thread.run_sync(move)
        except OSError as exc:
            _raise_for_os_error(exc)
            raise

    async def cancel(self, key: str) -> None:
        path = layout.upload_path(self.root, key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def stat(self, digest: Digest) -> int | None:
        try:
            # Inline, as in upload_size: every blob GET stats its file, and a local stat
            # costs less than the thread hand-off (about 0.3 ms here).
            return os.stat(layout.blob_path(self.root, digest)).st_size
        except FileNotFoundError:
            return None

    async def body(self, digest: Digest) -> BlobBody:
        size = await self.stat(digest)
        if size is None:
            raise StorageError(f"bytes of {digest} are missing from {self.name} storage")
        return BlobBody(size=size, path=layout.blob_path(self.root, digest))

    async def open_stream(
        self, digest: Digest, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = layout.blob_path(self.root, digest)
        try:
            f = await anyio.open_file(path, "rb")
        except FileNotFoundError as exc:
            raise StorageError(f"bytes of {digest} are missing") from exc
        async with f:
            await f.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                data = await f.read(want)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data

    async def delete(self, digest: Digest) -> None:
        path = layout.blob_path(self.root, digest)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def list_uploads(self) -> list[tuple[str, float]]:
        def names() -> list[tuple[str, float]]:
            found = []
            for p in layout.uploads_dir(self.root).iterdir():
                try:
                    found.append((p.name, p.stat().st_mtime))
                except FileNotFoundError:
                    continue  # committed or cancelled while we listed
            return found

        return await anyio.to_thread.run_sync(names)

    async def list_blobs(self) -> list[StoredBlob]:
        def walk() -> list[StoredBlob]:
            found = []
            for path in layout.blobs_dir(self.root).glob("*/*/*"):
                try:
                    digest = Digest.parse(f"{path.parent.parent.name}:{path.name}")
                    info = path.stat()
                except (DigestError, FileNotFoundError):
                    continue  # not a blob file, or deleted while we listed
                found.append(StoredBlob(digest, info.st_size, info.st_mtime))
            return found

        return await anyio.to_thread.run_sync(walk)

    async def check(self) -> None:
        probe = self.root / "probe" / f"{os.getpid()}-{secrets.token_hex(4)}"

        def roundtrip() -> None:
            probe.write_bytes(b"ok")
            if probe.read_bytes() != b"ok":
                raise StorageError("storage probe read back different bytes")
            probe.unlink()

        try:
            await anyio.to_thread.run_sync(roundtrip)
        except OSError as exc:
            raise StorageError(f"storage not writable: {exc.strerror}") from exc
