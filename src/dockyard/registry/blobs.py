"""Blob HEAD, GET (whole via sendfile/pathsend, or a byte range) and DELETE.

Behind a trusted proxy that offers X-Accel-Redirect (``dockyard.proxy``), a GET of a local
file, whole or a range, is answered with the file's internal URI instead of its bytes, and
the proxy sends it (nginx: with sendfile, and answering ``Range`` itself).

A blob GET is a download in progress for the concurrently-pulling-client limit and takes
a pull lease (``services/content/pulls.py``): a fixed one when the server or the proxy sends the
file by itself (pathsend, X-Accel-Redirect), a renewed one released at the last chunk when
Python streams a range or relays object storage.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable
from typing import Any

from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.oci.reference import RepositoryName
from dockyard.proxy import accel_redirect
from dockyard.registry.actors import accepted_delete
from dockyard.registry.context import Call, Target
from dockyard.services.content import Lookup, PullLease, holding
from dockyard.services.tenancy import NameUnknownError


class _CountedStreamingResponse(StreamingResponse):
    """A streamed blob that holds its pull lease (renewed) until the last byte is sent."""

    def __init__(self, *args: Any, lease: PullLease, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with holding(self.lease):
            await super().__call__(scope, receive, send)


def find_blob(call: Call, name: RepositoryName) -> Awaitable[Lookup[int]]:
    """The repository and the blob's size, in one statement."""
    return call.services.content.lookup_blob(call.instance.id, str(name), call.params["digest"])


async def get_blob(call: Call, target: Target, size: int) -> Response:
    digest = call.params["digest"]
    headers = {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }
    if call.head:
        return Response(
            status_code=200,
            media_type="application/octet-stream",
            headers={**headers, "Content-Length": str(size)},
        )
    body = await call.services.content.body_of(digest)
    ranged = "range" in call.request.headers
    if body.redirect_url and not ranged:
        # The bytes flow from object storage, not through a node: not a counted download.
        return RedirectResponse(body.redirect_url, status_code=307, headers=headers)
    accel = accel_redirect(call.request.scope, body.path) if body.path is not None else None
    pulls = call.services.pulls
    client = call.request.client.host if call.request.client else None
    # Handed off to the server (pathsend) or the proxy: nothing here sees the last byte.
    handed_off = accel is not None or (body.path is not None and not ranged)
    if pulls is not None and not handed_off:
        lease = await pulls.acquire(call.instance, client)
        return await _stream_blob(call, digest, body.size, headers, lease)
    if pulls is not None:
        await pulls.acquire(call.instance, client, hold_seconds=pulls.hold_for(body.size))
    if accel is not None:
        # The proxy replaces this empty answer with the file, or the range it asks for. It
        # sends Accept-Ranges itself (nginx would otherwise send it twice).
        del headers["Accept-Ranges"]
        return Response(
            status_code=200,
            media_type="application/octet-stream",
            headers={**headers, "X-Accel-Redirect": accel},
        )
    if body.stream or body.redirect_url or ranged:
        # Object storage without a redirect, or a Range request: relay the bytes (ranges
        # are read here, the same way whatever stores the blob).
        return await _stream_blob(call, digest, body.size, headers)
    if body.path is not None:
        # Starlette hands whole files to the server (ASGI pathsend: no bytes through Python).
        return FileResponse(
            body.path, media_type="application/octet-stream", headers=headers, stat_result=None
        )
    raise NameUnknownError("blob storage gave no way to send the blob")


#: One byte range (RFC 9110 §14.1.2): the unit is case-insensitive, blanks may surround
#: the range set, nothing else may (a list of several ranges does not match).
_BYTE_RANGE = re.compile(r"[ \t]*bytes=[ \t]*(?:([0-9]+)-([0-9]*)|-([0-9]+))[ \t]*", re.IGNORECASE)
#: Positions with more digits than this lie past any blob (and int() need not read them).
_MAX_POSITION_DIGITS = 18


class _Unsatisfiable(Exception):
    """A valid Range that selects no byte of the blob: 416."""


def _position(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_POSITION_DIGITS else sys.maxsize


def _requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, end)`` a ``Range`` header selects from ``size`` bytes; None for the whole
    blob. An invalid header, or a list of ranges, is ignored (RFC 9110 §14.2 allows both)."""
    match = _BYTE_RANGE.fullmatch(header) if header is not None else None
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = _position(suffix)
        if length == 0:
            raise _Unsatisfiable
        # Of an empty blob, a suffix selects the whole (empty) blob: no range to send.
        return (max(0, size - length), size) if size else None
    start = _position(first)
    if last and _position(last) < start:
        return None  # last-pos before first-pos: an invalid range-spec
    if start >= size:
        raise _Unsatisfiable
    return start, min(_position(last) + 1, size) if last else size


async def _stream_blob(
    call: Call,
    digest: str,
    size: int,
    headers: dict[str, str],
    lease: PullLease | None = None,
) -> Response:
    """200 with the whole blob, 206 with the one range asked for, or 416."""
    try:
        selected = _requested_range(call.request.headers.get("range"), size)
    except _Unsatisfiable:
        if lease is not None:
            await lease.release()
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = selected or (0, size)
    if selected is not None:
        headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{size}"}
    stream = call.services.content.blob_stream(digest, start, end)
    status = 200 if selected is None else 206
    headers = {**headers, "Content-Length": str(end - start)}
    if lease is not None:
        return _CountedStreamingResponse(
            stream,
            status_code=status,
            media_type="application/octet-stream",
            headers=headers,
            lease=lease,
        )
    return StreamingResponse(
        stream, status_code=status, media_type="application/octet-stream", headers=headers
    )


async def delete_blob(call: Call, target: Target) -> Response:
    return await accepted_delete(call, target, call.services.content.delete_blob, "digest")
