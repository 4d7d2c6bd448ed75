"""Blob HEAD, GET (whole via sendfile/pathsend, or a byte range) and DELETE.

Behind a trusted proxy that offers X-Accel-Redirect (``dockyard.proxy``), a GET of a local
file, whole or a range, is answered with the file's internal URI instead of its bytes, and
the proxy sends it (nginx: with sendfile, and answering ``Range`` itself).

A blob GET is a download in progress for the concurrently-pulling-client limit and takes
a pull lease (``services/pulls.py``): a fixed one when the server or the proxy sends the
file by itself (pathsend, X-Accel-Redirect), a renewed one released at the last chunk when
Python streams a range or relays object storage.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.proxy import accel_redirect
from dockyard.registry.actors import actor_of
from dockyard.registry.context import Call
from dockyard.services.access import DELETE_TAG, PULL
from dockyard.services.content import PullLease, holding
from dockyard.services.tenancy import NameUnknownError


class _CountedStreamingResponse(StreamingResponse):
    """A streamed blob that holds its pull lease (renewed) until the last byte is sent."""

    def __init__(self, *args: Any, lease: PullLease, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with holding(self.lease):
            await super().__call__(scope, receive, send)


async def get_blob(call: Call) -> Response:
    name = call.name()
    digest = call.params["digest"]
    # One statement: the repository and the blob's link; authorized before anything is used.
    found = await call.services.content.lookup_blob(call.instance.id, str(name), digest)
    await call.authorize(PULL, name, found.repo)
    if found.repo is None:
        raise NameUnknownError(f"repository {name} not known")
    size = found.get()
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
    if body.stream or body.redirect_url:
        # Object storage without a redirect (or a Range request): relay the bytes.
        return await _stream_blob(call, digest, body.size, headers)
    if body.path is not None:
        # Starlette hands whole files to the server (ASGI pathsend: no bytes through Python)
        # and answers Range requests with 206/416 itself.
        return FileResponse(
            body.path, media_type="application/octet-stream", headers=headers, stat_result=None
        )
    raise NameUnknownError("blob storage gave no way to send the blob")


async def _stream_blob(
    call: Call,
    digest: str,
    size: int,
    headers: dict[str, str],
    lease: PullLease | None = None,
) -> Response:
    """200 with the whole blob, or 206/416 for a single ``Range: bytes=…`` (others: 200)."""
    start, end, partial = 0, size, False
    spec = call.request.headers.get("range", "")
    first, sep, last = spec.removeprefix("bytes=").strip().partition("-")
    if spec.startswith("bytes=") and sep and "," not in spec:
        if first.isdigit() and (last.isdigit() or not last):
            start, end, partial = int(first), min(size, int(last) + 1 if last else size), True
        elif not first and last.isdigit():
            start, end, partial = max(0, size - int(last)), size, True
        if partial and start >= end:
            unsatisfiable = {**headers, "Content-Range": f"bytes */{size}"}
            if lease is not None:
                await lease.release()
            return Response(status_code=416, headers=unsatisfiable)
    if partial:
        headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{size}"}
    stream = call.services.content.blob_stream(digest, start, end)
    status = 206 if partial else 200
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


async def delete_blob(call: Call) -> Response:
    name = call.name()
    repo = await call.services.tenancy.find_repository(call.instance.id, name)
    caller = await call.authorize(DELETE_TAG, name, repo)
    if repo is None:
        raise NameUnknownError(f"repository {name} not known")
    await call.services.content.delete_blob(
        repo,
        call.params["digest"],
        actor=actor_of(call, caller),
        resource=call.instance.repository_arn(str(name)),
    )
    return Response(status_code=202, headers={"Content-Length": "0"})
