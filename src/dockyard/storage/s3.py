"""S3 blob store: uploads are S3 multipart uploads whose state lives in the bucket.

Layout under the configured prefix (``s3://bucket/prefix``)::

    blobs/<algorithm>/<first two hex>/<hex>   committed blob bytes, immutable
    uploads/<key>/state.json                  upload state (see below), the upload's truth
    uploads/<key>/tail-<token>                bytes after the last full part (< part size)
    uploads/<key>/data-<token>                target of the multipart upload / staged bytes
    probe/<token>                             readiness probe objects

**Stateless nodes.** Consecutive chunks of one upload may reach different nodes, so no
node keeps anything about an upload between calls. ``state.json`` holds the size, the
multipart upload id and its parts (number, ETag, size), and the name of the *tail*
object: the bytes that do not yet fill a part (parts other than the last must be at
least 5 MiB, clients send chunks of any size). The content of an upload is always
``parts ++ tail``, or one *staged* object (see hashing).

**Append.** ``append`` reads the state (offset check before the body is read), then
streams the chunk into a temporary spool file on local disk (``spool_dir``), starting
with the old tail's bytes (downloaded when the first byte arrives). Each time the spool
holds a part's worth it is uploaded as the next part and emptied; what is left at the
end is uploaded as a *new* tail object under a fresh name. Only then is ``state.json``
rewritten, with ``If-Match`` on the ETag read at the start: that conditional write is
the single commit point of the append. If the chunk iterator fails, the task is
cancelled, or another node won the race, the new state is never written; the parts
uploaded by the failed call are simply not listed (they are dropped when the multipart
upload completes or is aborted), and its new tail object is deleted. So an append is all
or nothing and at most one of two concurrent appends at one offset wins (the other gets
:class:`OffsetMismatchError`).

Part numbers are *reserved* with a conditional write of ``state.json`` (a ``next_part``
counter) before a part is uploaded into a multipart upload that the state already names,
so two racing appends never write the same part number (which would overwrite the
winner's bytes). A call that opens a multipart upload of its own numbers it alone. A
``rev`` counter changes with every content change; a reservation or final write that
finds a different ``rev`` lost the race.

**Hashing and commit.** Parts of an unfinished multipart upload cannot be read back, so
``hash_upload`` first *stages* the upload: the tail is added as the last part (a
server-side UploadPartCopy) and the multipart upload is completed into its
``data-<token>`` object, which the state then names as ``staged``; the hash is computed
by streaming that object. (An upload with no full part yet is staged by relabelling its
tail, without copying.) Staging is two conditional state writes (``staging`` then
``staged``); a node that finds ``staging`` set finishes it (completion is idempotent).
An append after staging reopens the upload: a staged object of at least 5 MiB is copied
server-side into a new multipart upload as its first part(s), a smaller one becomes the
tail again. ``commit`` stages too, then copies the staged object to the content address
(CopyObject; a multipart copy above 5 GiB), which is atomic: the blob key never holds
partial bytes. It is idempotent: an existing blob is kept. The upload's objects and
multipart uploads are removed afterwards.

**Errors.** Connection failures, timeouts, throttling and 5xx answers become
:class:`S3UnavailableError` (an ``UnavailableError``, so the registry answers 503).

**Limitations.** Mutual exclusion of concurrent appends relies on S3 conditional writes
(``If-Match``/``If-None-Match`` on PutObject, AWS since 2024, moto). A store that ignores
them gives no guarantee when two nodes append to one upload at the same offset at the
same instant; the registry is expected to serialise appends per upload in its database.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import json
import secrets
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import aiohttp
import anyio
import anyio.to_thread
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from dockyard.errors import StorageFullError, UnavailableError
from dockyard.oci.digest import Digest, DigestError
from dockyard.storage import layout
from dockyard.storage.base import (
    BlobBody,
    OffsetMismatchError,
    StorageError,
    StoredBlob,
    UploadMissingError,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
#: S3's smallest part (except the last one of an upload).
MIN_PART_SIZE = 5 * MiB
#: S3's largest single CopyObject / UploadPartCopy source range.
MAX_COPY_SIZE = 5 * GiB
#: Bytes gathered from the request before one spool write + hash call in a worker thread.
WRITE_BATCH = MiB
READ_CHUNK = MiB
#: Parts of a multipart copy of a blob larger than ``max_copy_size``.
COPY_PART_SIZE = GiB

_UNAVAILABLE_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
}
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchUpload", "NotFound"}
_CONFLICT_CODES = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


class S3UnavailableError(UnavailableError, StorageError):
    """The S3 endpoint cannot be reached or answered with a server error (503 upstream)."""


class _NotFound(StorageError):
    """S3 answered 404/NoSuchKey/NoSuchUpload; callers turn it into the protocol's error."""


class _Conflict(StorageError):
    """A conditional write lost (412/409): another node changed the upload first."""


class _InvalidRange(StorageError):
    """S3 refused a ranged GET (416)."""


def parse_storage_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix/``)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// storage URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"storage URL names no bucket: {url!r}")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    path_style: bool = False
    presign_redirects: bool = False
    presign_ttl_seconds: int = 900
    #: Where parts are assembled before upload; None = the system temp dir.
    spool_dir: Path | None = None
    part_size: int = 8 * MiB
    #: Largest single server-side copy; above it copies are multipart (S3: 5 GiB).
    max_copy_size: int = MAX_COPY_SIZE
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(f"part size must be at least {MIN_PART_SIZE} bytes")
        if self.max_copy_size < 2 * MIN_PART_SIZE:
            raise ValueError(f"max copy size must be at least {2 * MIN_PART_SIZE} bytes")


@dataclass
class _State:
    """The JSON document ``uploads/<key>/state.json``."""

    size: int = 0
    rev: int = 0
    next_part: int = 1
    mpu_key: str | None = None
    upload_id: str | None = None
    #: (part number, ETag, size) in content order.
    parts: list[tuple[int, str, int]] = field(default_factory=list)
    tail: str | None = None
    tail_size: int = 0
    #: When set, the whole content is this one object (no parts, no tail).
    staged: str | None = None
    #: The multipart upload (parts include the old tail) is being completed to mpu_key.
    staging: bool = False
    created: float = 0.0

    def dump(self) -> bytes:
        doc = {
            "v": 1,
            "size": self.size,
            "rev": self.rev,
            "next_part": self.next_part,
            "mpu_key": self.mpu_key,
            "upload_id": self.upload_id,
            "parts": [list(p) for p in self.parts],
            "tail": self.tail,
            "tail_size": self.tail_size,
            "staged": self.staged,
            "staging": self.staging,
            "created": self.created,
            # Every write differs, so an ETag never repeats (no ABA on If-Match).
            "nonce": secrets.token_hex(8),
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def load(cls, raw: bytes) -> _State:
        doc = json.loads(raw)
        return cls(
            size=int(doc["size"]),
            rev=int(doc["rev"]),
            next_part=int(doc["next_part"]),
            mpu_key=doc["mpu_key"],
            upload_id=doc["upload_id"],
            parts=[(int(n), str(e), int(s)) for n, e, s in doc["parts"]],
            tail=doc["tail"],
            tail_size=int(doc["tail_size"]),
            staged=doc["staged"],
            staging=bool(doc["staging"]),
            created=float(doc["created"]),
        )


@dataclass
class _Attempt:
    """One append call: the state it started from and what it has uploaded so far."""

    key: str
    offset: int
    state: _State
    etag: str
    mpu_key: str | None = None
    upload_id: str | None = None
    own_mpu: bool = False
    own_next: int = 1
    parts: list[tuple[int, str, int]] = field(default_factory=list)
    new_tail: str | None = None
    #: Objects the state stops naming once this attempt commits (old tail, staged).
    superseded: list[str] = field(default_factory=list)


def _ranges(size: int, limit: int) -> Iterator[tuple[int, int]]:
    """Split [0, size) into equal pieces of at most ``limit`` bytes (inclusive ends)."""
    count = max(1, -(-size // limit))
    step = -(-size // count)
    for start in range(0, size, step):
        yield start, min(size, start + step) - 1


def _error_code(exc: ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


def _translate(exc: BaseException, what: str) -> NoReturn:
    if isinstance(exc, ClientError):
        code, status = _error_code(exc)
        if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
            raise _NotFound(f"{what}: {code or status}") from exc
        if code in _CONFLICT_CODES or status == 412:
            raise _Conflict(f"{what}: {code or status}") from exc
        if code == "InvalidRange" or status == 416:
            raise _InvalidRange(f"{what}: {code or status}") from exc
        if status >= 500 or code in _UNAVAILABLE_CODES:
            raise S3UnavailableError(f"S3 unavailable ({what}: {code or status})") from exc
        raise StorageError(f"S3 error ({what}: {code or status})") from exc
    if isinstance(exc, NoCredentialsError):
        raise StorageError(f"S3 credentials missing ({what})") from exc
    raise S3UnavailableError(f"S3 unavailable ({what}: {type(exc).__name__})") from exc


#: What a failing S3 call raises besides ClientError: connection and timeout errors.
_TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


class S3BlobStore:
    """Blobs in an S3 bucket; any number of nodes may share it."""

    name = "s3"

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        self._session = _shared_session()
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, contextlib.AsyncExitStack, Any]
        ] = weakref.WeakKeyDictionary()

    # ---- client and calls ------------------------------------------------------------

    async def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is not None:
            return entry[0]
        cfg = self.config
        config = AioConfig(
            s3={"addressing_style": "path" if cfg.path_style else "auto"},
            signature_version="s3v4",
            connect_timeout=cfg.connect_timeout,
            read_timeout=cfg.read_timeout,
            retries={"max_attempts": cfg.max_attempts, "mode": "standard"},
            max_pool_connections=64,
            # Checksums only where S3 requires them: S3-compatible stores differ in support.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            self._session.create_client(
                "s3",
                region_name=cfg.region or "us-east-1",
                endpoint_url=cfg.endpoint_url,
                aws_access_key_id=cfg.access_key_id,
                aws_secret_access_key=cfg.secret_access_key,
                config=config,
            )
        )
        if loop in self._clients:  # another task created one meanwhile
            await stack.aclose()
            return self._clients[loop][0]
        # Closed when the loop shuts its async generators down (asyncio.run does), so a
        # client never outlives its event loop even when nobody calls aclose().
        closer = _closer(stack)
        await closer.__anext__()
        self._clients[loop] = (client, stack, closer)
        return client

    async def aclose(self) -> None:
        """Close this event loop's S3 client (its connection pool)."""
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

    async def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        client = await self._client()
        try:
            return await getattr(client, operation)(Bucket=self.bucket, **kwargs)
        except (ClientError, *_TRANSPORT_ERRORS) as exc:
            _translate(exc, what)

    @staticmethod
    async def _chunks(resp: Any, what: str) -> AsyncIterator[bytes]:
        """The body of a GetObject answer in pieces of at most READ_CHUNK bytes."""
        try:
            async with resp["Body"] as body:
                async for data in body.iter_chunks(READ_CHUNK):
                    yield data
        except _TRANSPORT_ERRORS as exc:
            _translate(exc, what)

    async def _read_small(self, name: str, what: str) -> bytes:
        resp = await self._call("get_object", what, Key=name)
        return b"".join([data async for data in self._chunks(resp, what)])

    # ---- object names ----------------------------------------------------------------

    def _blob_key(self, digest: Digest) -> str:
        return f"{self.prefix}blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"

    def _upload_dir(self, key: str) -> str:
        if not layout.UPLOAD_KEY_RE.match(key):
            raise ValueError(f"invalid upload key {key!r}")
        return f"{self.prefix}uploads/{key}/"

    def _state_key(self, key: str) -> str:
        return f"{self._upload_dir(key)}state.json"

    def _new_name(self, key: str, kind: str) -> str:
        return f"{self._upload_dir(key)}{kind}-{secrets.token_hex(8)}"

    # ---- state -----------------------------------------------------------------------

    async def _get_state(self, key: str) -> tuple[_State, str]:
        what = "read upload state"
        try:
            resp = await self._call("get_object", what, Key=self._state_key(key))
        except _NotFound as exc:
            raise UploadMissingError(f"upload {key} not found") from exc
        raw = b"".join([data async for data in self._chunks(resp, what)])
        return _State.load(raw), str(resp["ETag"])

    async def _put_state(
        self, key: str, state: _State, *, if_match: str | None = None, create: bool = False
    ) -> str | None:
        """Write the state conditionally; None when the condition failed (lost a race)."""
        condition: dict[str, str] = {}
        if create:
            condition["IfNoneMatch"] = "*"
        elif if_match:
            condition["IfMatch"] = if_match
        try:
            resp = await self._call(
                "put_object",
                "write upload state",
                Key=self._state_key(key),
                Body=state.dump(),
                ContentType="application/json",
                **condition,
            )
        except _Conflict:
            return None
        except _NotFound as exc:  # If-Match on a deleted state: cancelled or committed
            raise UploadMissingError(f"upload {key} not found") from exc
        return str(resp["ETag"])

    # ---- upload lifecycle ------------------------------------------------------------

    async def start_upload(self) -> str:
        key = secrets.token_hex(16)
        state = _State(created=time.time())
        if await self._put_state(key, state, create=True) is None:
            raise StorageError("upload key collision")
        return key

    async def upload_size(self, key: str) -> int:
        state, _ = await self._get_state(key)
        return state.size

    async def append(
        self, key: str, offset: int, chunks: AsyncIterator[bytes], hashers: list[Any] | None = None
    ) -> int:
        state, etag = await self._get_state(key)
        if state.size != offset:
            raise OffsetMismatchError(state.size, offset)
        hashers = hashers or []
        att = _Attempt(key=key, offset=offset, state=state, etag=etag)
        spool: BinaryIO | None = None
        spooled = 0  # bytes in the spool file
        part_start = offset  # content offset of the spool's first byte
        written = 0  # new bytes of this call
        state_write_started = False

        def write(data: bytes) -> None:
            assert spool is not None
            spool.write(data)
            for h in hashers:
                h.update(data)

        try:
            batch = bytearray()
            async for chunk in chunks:
                if not chunk:
                    continue
                if spool is None:
                    spool = await anyio.to_thread.run_sync(self._open_spool)
                    spooled = await self._reopen(att, spool)
                    part_start = offset - spooled
                view = memoryview(chunk)
                while view:
                    target = self._part_target(part_start)
                    room = target - spooled - len(batch)
                    if room > 0:
                        piece, view = view[:room], view[room:]
                        batch += piece
                        written += len(piece)
                    if len(batch) >= WRITE_BATCH or spooled + len(batch) >= target:
                        data, batch = bytes(batch), bytearray()
                        await anyio.to_thread.run_sync(write, data)
                        spooled += len(data)
                    if spooled >= target:
                        await self._upload_part(att, spool, spooled)
                        part_start += spooled
                        spooled = 0
                        await anyio.to_thread.run_sync(_truncate, spool)
            if written == 0:
                return offset
            assert spool is not None
            if batch:
                await anyio.to_thread.run_sync(write, bytes(batch))
                spooled += len(batch)
            if spooled:
                att.new_tail = self._new_name(key, "tail")
                await anyio.to_thread.run_sync(spool.seek, 0)
                await self._call(
                    "put_object", "upload tail", Key=att.new_tail, Body=spool, ContentLength=spooled
                )
            state_write_started = True
            await self._commit_attempt(att, offset + written, spooled)
        except BaseException as exc:
            # A write whose answer never came (timeout, cancellation) may have landed, and
            # then the new tail is live: leave it (cancel or the upload purge reclaims it).
            lost = isinstance(exc, (OffsetMismatchError, UploadMissingError))
            if not state_write_started or lost:
                with anyio.move_on_after(30, shield=True):
                    await self._discard_attempt(att)
            if isinstance(exc, OSError):  # the local spool file
                _raise_spool_error(exc)
            raise
        finally:
            if spool is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(spool.close)
        with anyio.move_on_after(30, shield=True):
            await self._delete_quietly(att.superseded)
        return offset + written

    def _open_spool(self) -> BinaryIO:
        spool_dir = self.config.spool_dir
        if spool_dir is not None:
            spool_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(dir=spool_dir)

    def _part_target(self, part_start: int) -> int:
        """Size of the part starting at ``part_start``: grows for very large uploads so
        that S3's 10,000 parts are never exhausted."""
        return max(self.config.part_size, part_start // 1000)

    async def _reopen(self, att: _Attempt, spool: BinaryIO) -> int:
        """Prepare an attempt for its first byte: bring the old tail (or a staged object)
        back into play. Returns the number of bytes put into the spool."""
        if att.state.staging:
            await self._stage(att.key)
            state, etag = await self._get_state(att.key)
            if state.size != att.offset:
                raise OffsetMismatchError(state.size, att.offset)
            att.state, att.etag = state, etag
        state = att.state
        if state.staged is not None:
            att.superseded.append(state.staged)
            if state.size >= MIN_PART_SIZE:
                # Copy the staged bytes server-side into a new multipart upload.
                await self._open_own_mpu(att)
                assert att.upload_id is not None
                for start, end in _ranges(state.size, self.config.max_copy_size):
                    number = att.own_next
                    att.own_next += 1
                    resp = await self._call(
                        "upload_part_copy",
                        "copy staged bytes",
                        Key=att.mpu_key,
                        UploadId=att.upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": state.staged},
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                    att.parts.append((number, str(resp["CopyPartResult"]["ETag"]), end - start + 1))
                return 0
            return await self._download_into(state.staged, spool)
        att.mpu_key, att.upload_id = state.mpu_key, state.upload_id
        att.parts = list(state.parts)
        if state.tail is None:
            return 0
        att.superseded.append(state.tail)
        return await self._download_into(state.tail, spool)

    async def _download_into(self, name: str, spool: BinaryIO) -> int:
        what = "read upload bytes"
        resp = await self._call("get_object", what, Key=name)
        total = 0
        async for data in self._chunks(resp, what):
            await anyio.to_thread.run_sync(spool.write, data)
            total += len(data)
        return total

    async def _open_own_mpu(self, att: _Attempt) -> None:
        att.mpu_key = self._new_name(att.key, "data")
        resp = await self._call(
            "create_multipart_upload", "start multipart upload", Key=att.mpu_key
        )
        att.upload_id = str(resp["UploadId"])
        att.own_mpu = True
        att.own_next = 1

    async def _upload_part(self, att: _Attempt, spool: BinaryIO, size: int) -> None:
        if att.upload_id is None:
            await self._open_own_mpu(att)
        if att.own_mpu:
            number = att.own_next
            att.own_next += 1
        else:
            number = await self._reserve_part(att)
        await anyio.to_thread.run_sync(spool.seek, 0)
        resp = await self._call(
            "upload_part",
            "upload part",
            Key=att.mpu_key,
            UploadId=att.upload_id,
            PartNumber=number,
            Body=spool,
            ContentLength=size,
        )
        att.parts.append((number, str(resp["ETag"]), size))

    async def _reserve_part(self, att: _Attempt) -> int:
        """Claim the next part number of a shared multipart upload (a conditional write)."""
        while True:
            number = att.state.next_part
            reserved = replace(att.state, next_part=number + 1)
            etag = await self._put_state(att.key, reserved, if_match=att.etag)
            if etag is not None:
                att.state, att.etag = reserved, etag
                return number
            current, current_etag = await self._get_state(att.key)
            if current.rev != att.state.rev:
                raise OffsetMismatchError(current.size, att.offset)
            att.state, att.etag = current, current_etag

    async def _commit_attempt(self, att: _Attempt, size: int, tail_size: int) -> None:
        """The append's single commit point: the conditional state write."""
        while True:
            new = replace(
                att.state,
                size=size,
                rev=att.state.rev + 1,
                next_part=att.own_next if att.own_mpu else att.state.next_part,
                mpu_key=att.mpu_key,
                upload_id=att.upload_id,
                parts=list(att.parts),
                tail=att.new_tail,
                tail_size=tail_size if att.new_tail else 0,
                staged=None,
                staging=False,
            )
            if await self._put_state(att.key, new, if_match=att.etag) is not None:
                return
            current, current_etag = await self._get_state(att.key)
            if current.rev != att.state.rev:
                raise OffsetMismatchError(current.size, att.offset)
            att.state, att.etag = current, current_etag  # only a reservation: retry

    async def _discard_attempt(self, att: _Attempt) -> None:
        """Undo what an append that did not commit uploaded (best effort)."""
        with contextlib.suppress(StorageError):
            if att.new_tail is not None:
                await self._delete_quietly([att.new_tail])
            if att.own_mpu and att.upload_id is not None:
                await self._abort(att.mpu_key or "", att.upload_id)

    async def _abort(self, name: str, upload_id: str) -> None:
        with contextlib.suppress(_NotFound):
            await self._call(
                "abort_multipart_upload", "abort multipart upload", Key=name, UploadId=upload_id
            )

    async def _delete_quietly(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(StorageError):
                await self._call("delete_object", "delete", Key=name)

    # ---- staging, hashing, commit ----------------------------------------------------

    async def _stage(self, key: str) -> _State:
        """Make the upload's content one readable object (or nothing, when empty)."""
        while True:
            state, etag = await self._get_state(key)
            if state.staged is not None or (state.size == 0 and not state.parts):
                return state
            if state.upload_id is None:
                # No full part yet: the tail is the whole content.
                new = replace(state, staged=state.tail, tail=None, tail_size=0, rev=state.rev + 1)
                if await self._put_state(key, new, if_match=etag) is not None:
                    return new
                continue
            if not state.staging:
                superseded: list[str] = []
                tail = state.tail
                if tail is not None:
                    att = _Attempt(key=key, offset=state.size, state=state, etag=etag)
                    try:
                        number = await self._reserve_part(att)
                    except OffsetMismatchError:
                        continue  # the upload changed meanwhile: start over
                    state, etag = att.state, att.etag
                    resp = await self._call(
                        "upload_part_copy",
                        "copy tail into last part",
                        Key=state.mpu_key,
                        UploadId=state.upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": tail},
                    )
                    part = (number, str(resp["CopyPartResult"]["ETag"]), state.tail_size)
                    state = replace(state, parts=[*state.parts, part])
                    superseded.append(tail)
                new = replace(state, tail=None, tail_size=0, staging=True, rev=state.rev + 1)
                etag_or_none = await self._put_state(key, new, if_match=etag)
                if etag_or_none is None:
                    continue
                await self._delete_quietly(superseded)
                state, etag = new, etag_or_none
            assert state.mpu_key is not None and state.upload_id is not None
            try:
                await self._call(
                    "complete_multipart_upload",
                    "complete multipart upload",
                    Key=state.mpu_key,
                    UploadId=state.upload_id,
                    MultipartUpload={
                        "Parts": [{"PartNumber": n, "ETag": e} for n, e, _ in state.parts]
                    },
                )
            except _NotFound:
                # Completed by another node already? Then the object is there, whole.
                head = await self._head(state.mpu_key)
                if head != state.size:
                    raise StorageError(f"upload {key}: multipart upload lost") from None
            new = replace(
                state, staged=state.mpu_key, upload_id=None, parts=[], staging=False,
                rev=state.rev + 1,
            )  # fmt: skip
            if await self._put_state(key, new, if_match=etag) is not None:
                return new

    async def hash_upload(self, key: str, algorithm: str) -> str:
        state = await self._stage(key)
        hasher = hashlib.new(algorithm)
        if state.staged is not None:
            what = "read staged upload"
            resp = await self._call("get_object", what, Key=state.staged)
            async for data in self._chunks(resp, what):
                await anyio.to_thread.run_sync(hasher.update, data)
        return hasher.hexdigest()

    async def commit(self, key: str, digest: Digest) -> int:
        target = self._blob_key(digest)
        try:
            await self._get_state(key)
        except UploadMissingError:
            size = await self.stat(digest)
            if size is None:
                raise
            return size  # a retried commit
        existing = await self.stat(digest)
        if existing is not None:
            # Same content address means same bytes: keep the existing blob.
            await self._remove_upload(key)
            return existing
        try:
            state = await self._stage(key)
        except UploadMissingError:
            size = await self.stat(digest)  # committed by a concurrent request
            if size is None:
                raise
            return size
        if state.staged is None:
            await self._call("put_object", "write empty blob", Key=target, Body=b"")
        elif state.size <= self.config.max_copy_size:
            await self._call(
                "copy_object",
                "copy blob into place",
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": state.staged},
            )
        else:
            await self._multipart_copy(state.staged, target, state.size)
        await self._remove_upload(key)
        return state.size

    async def _multipart_copy(self, source: str, target: str, size: int) -> None:
        resp = await self._call("create_multipart_upload", "start blob copy", Key=target)
        upload_id = str(resp["UploadId"])
        try:
            parts = []
            limit = min(COPY_PART_SIZE, self.config.max_copy_size)
            for number, (start, end) in enumerate(_ranges(size, limit), start=1):
                part = await self._call(
                    "upload_part_copy",
                    "copy blob part",
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
            await self._call(
                "complete_multipart_upload",
                "complete blob copy",
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with anyio.move_on_after(30, shield=True), contextlib.suppress(StorageError):
                await self._abort(target, upload_id)
            raise

    async def cancel(self, key: str) -> None:
        await self._remove_upload(key)

    async def _remove_upload(self, key: str) -> None:
        """Delete the state first (the upload is gone for every node at once), then the
        helper objects and every multipart upload under the upload's prefix."""
        directory = self._upload_dir(key)
        await self._delete_quietly([self._state_key(key)])
        names = [name for name, _ in await self._list_objects(directory)]
        for start in range(0, len(names), 1000):
            await self._call(
                "delete_objects",
                "delete upload objects",
                Delete={
                    "Objects": [{"Key": n} for n in names[start : start + 1000]],
                    "Quiet": True,
                },
            )
        for name, upload_id, _ in await self._list_multipart(directory):
            await self._abort(name, upload_id)

    async def _list_objects(self, prefix: str) -> list[tuple[str, float]]:
        found: list[tuple[str, float]] = []
        token: dict[str, str] = {}
        while True:
            resp = await self._call("list_objects_v2", "list objects", Prefix=prefix, **token)
            found += [(o["Key"], o["LastModified"].timestamp()) for o in resp.get("Contents", [])]
            if not resp.get("IsTruncated"):
                return found
            token = {"ContinuationToken": resp["NextContinuationToken"]}

    async def _list_multipart(self, prefix: str) -> list[tuple[str, str, float]]:
        found: list[tuple[str, str, float]] = []
        marker: dict[str, str] = {}
        while True:
            resp = await self._call(
                "list_multipart_uploads", "list multipart uploads", Prefix=prefix, **marker
            )
            found += [
                (u["Key"], u["UploadId"], u["Initiated"].timestamp())
                for u in resp.get("Uploads", [])
            ]
            if not resp.get("IsTruncated"):
                return found
            marker = {
                "KeyMarker": resp["NextKeyMarker"],
                "UploadIdMarker": resp["NextUploadIdMarker"],
            }

    async def list_uploads(self) -> list[tuple[str, float]]:
        """Every upload key with anything under ``uploads/<key>/`` (state, stray helper
        objects of a failed node, multipart uploads), with its latest modification."""
        base = f"{self.prefix}uploads/"
        latest: dict[str, float] = {}
        objects = await self._list_objects(base)
        uploads = await self._list_multipart(base)
        entries = [(n, t) for n, t in objects] + [(n, t) for n, _, t in uploads]
        for name, mtime in entries:
            key = name[len(base) :].partition("/")[0]
            if layout.UPLOAD_KEY_RE.match(key):
                latest[key] = max(mtime, latest.get(key, 0.0))
        return sorted(latest.items())

    # ---- blobs -----------------------------------------------------------------------

    async def list_blobs(self) -> list[StoredBlob]:
        base = f"{self.prefix}blobs/"
        found: list[StoredBlob] = []
        token: dict[str, str] = {}
        while True:
            resp = await self._call("list_objects_v2", "list blobs", Prefix=base, **token)
            for item in resp.get("Contents", []):
                algorithm, _, rest = item["Key"][len(base) :].partition("/")
                try:
                    digest = Digest.parse(f"{algorithm}:{rest.rpartition('/')[2]}")
                except DigestError:
                    continue  # not a blob object
                found.append(StoredBlob(digest, item["Size"], item["LastModified"].timestamp()))
            if not resp.get("IsTruncated"):
                return found
            token = {"ContinuationToken": resp["NextContinuationToken"]}

    async def _head(self, name: str) -> int | None:
        try:
            resp = await self._call("head_object", "stat", Key=name)
        except _NotFound:
            return None
        return int(resp["ContentLength"])

    async def stat(self, digest: Digest) -> int | None:
        return await self._head(self._blob_key(digest))

    async def body(self, digest: Digest) -> BlobBody:
        size = await self.stat(digest)
        if size is None:
            raise StorageError(f"bytes of {digest} are missing from {self.name} storage")
        if not self.config.presign_redirects:
            return BlobBody(size=size, stream=True)
        client = await self._client()
        try:
            url = await client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._blob_key(digest)},
                ExpiresIn=self.config.presign_ttl_seconds,
            )
        except (ClientError, *_TRANSPORT_ERRORS) as exc:
            _translate(exc, "presign")
        return BlobBody(size=size, redirect_url=str(url))

    async def open_stream(
        self, digest: Digest, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        name = self._blob_key(digest)
        missing = f"bytes of {digest} are missing"
        if end is not None and end <= start:
            if await self._head(name) is None:
                raise StorageError(missing)
            return
        extra = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            resp = await self._call("get_object", "read blob", Key=name, **extra)
        except _NotFound as exc:
            raise StorageError(missing) from exc
        except _InvalidRange as exc:
            # A start at or past the end: nothing to send, if the blob exists.
            if await self._head(name) is None:
                raise StorageError(missing) from exc
            return
        async for data in self._chunks(resp, "read blob"):
            yield data

    async def delete(self, digest: Digest) -> None:
        with contextlib.suppress(_NotFound):
            await self._call("delete_object", "delete blob", Key=self._blob_key(digest))

    async def check(self) -> None:
        name = f"{self.prefix}probe/{secrets.token_hex(8)}"
        await self._call("put_object", "probe write", Key=name, Body=b"ok")
        try:
            if await self._read_small(name, "probe read") != b"ok":
                raise StorageError("storage probe read back different bytes")
        finally:
            with anyio.move_on_after(10, shield=True):
                await self._delete_quietly([name])


@functools.cache
def _shared_session() -> AioSession:
    """One botocore session per process: it caches the parsed S3 service model, which
    takes most of a second to load."""
    return get_session()


async def _closer(stack: contextlib.AsyncExitStack) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await stack.aclose()


def _truncate(f: BinaryIO) -> None:
    f.seek(0)
    f.truncate()


def _raise_spool_error(exc: OSError) -> NoReturn:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise StorageFullError("upload spool disk is full") from exc
    raise StorageError(f"upload spool file error: {exc.strerror}") from exc
