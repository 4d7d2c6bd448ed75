"""Blob uploads: monolithic, chunked (PATCH with Content-Range), resumable, and mounts."""

from __future__ import annotations

import re

from starlette.responses import Response

from dockyard.errors import DeniedError, InvalidInputError
from dockyard.oci.digest import Digest
from dockyard.oci.reference import RepositoryName
from dockyard.registry.auth import ChallengeError
from dockyard.registry.context import Call, PushTarget, Target
from dockyard.services.access import PULL
from dockyard.services.content import DigestInvalidError, RangeInvalidError, UploadState
from dockyard.services.tenancy import RepositoryRef

_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def _range_header(size: int) -> str:
    return f"0-{max(size - 1, 0)}"


def _upload_response(call: Call, status: int, state: UploadState) -> Response:
    return Response(
        status_code=status,
        headers={
            "Location": call.url(f"/v2/{call.params['name']}/blobs/uploads/{state.id}"),
            "Range": _range_header(state.size),
            "Docker-Upload-UUID": str(state.id),
            "Content-Length": "0",
        },
    )


def _blob_created(call: Call, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": call.url(f"/v2/{call.params['name']}/blobs/{digest}"),
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


async def start_upload(call: Call, target: PushTarget) -> Response:
    repo = await target.ensure()
    query = call.request.query_params
    content = call.services.content
    mount, source_name = query.get("mount"), query.get("from")
    if mount:
        Digest.parse(mount)  # a malformed digest is DIGEST_INVALID, not a silent fallback
    if mount and source_name and await _mount(call, repo, mount, source_name):
        return _blob_created(call, mount)
    digest = query.get("digest")
    if digest:
        await content.monolithic_upload(repo, digest, call.body())
        return _blob_created(call, digest)
    return _upload_response(call, 202, await content.start_upload(repo))


async def _mount(call: Call, repo: RepositoryRef, digest: str, source_name: str) -> bool:
    """Mount needs pull on the source; without it (or without the blob) we fall back to an
    ordinary upload, so a client never learns what another repository holds."""
    try:
        source = RepositoryName.parse(source_name)
    except InvalidInputError:
        return False
    source_repo = await call.services.tenancy.find_repository(call.instance.id, source)
    if source_repo is None:
        return False
    try:
        await call.authorize(PULL, source, source_repo)
    except (ChallengeError, DeniedError):
        return False
    return await call.services.content.mount(repo, digest, source_repo)


def _content_range(call: Call) -> int | None:
    header = call.request.headers.get("content-range")
    if header is None:
        return None
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise RangeInvalidError(f"malformed Content-Range {header!r}", -1)
    start, end = int(match[1]), int(match[2])
    length = call.request.headers.get("content-length")
    if end < start or (length is not None and length.isdigit() and int(length) != end - start + 1):
        raise RangeInvalidError(f"Content-Range {header!r} does not match the body", -1)
    return start


async def patch_upload(call: Call, target: Target) -> Response:
    start = _content_range(call)
    state = await call.services.content.append(
        target.repo, call.params["upload_id"], call.body(), start
    )
    return _upload_response(call, 202, state)


async def put_upload(call: Call, target: Target) -> Response:
    digest = call.request.query_params.get("digest")
    if not digest:
        raise DigestInvalidError("the digest query parameter is required to finish an upload")
    has_body = call.request.headers.get(
        "content-length", "0"
    ) != "0" or "chunked" in call.request.headers.get("transfer-encoding", "")
    start = _content_range(call) if has_body else None
    await call.services.content.finish_upload(
        target.repo, call.params["upload_id"], digest, call.body() if has_body else None, start
    )
    return _blob_created(call, digest)


async def get_upload(call: Call, target: Target) -> Response:
    state = await call.services.content.upload_status(target.repo, call.params["upload_id"])
    return _upload_response(call, 204, state)


async def delete_upload(call: Call, target: Target) -> Response:
    await call.services.content.cancel_upload(target.repo, call.params["upload_id"])
    return Response(status_code=204)
