"""Manifest HEAD/GET/PUT/DELETE by tag or digest."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.responses import Response

from dockyard.oci import mediatypes as mt
from dockyard.oci.manifest import MAX_MANIFEST_BYTES, ManifestTooLargeError
from dockyard.oci.reference import RepositoryName
from dockyard.registry.actors import accepted_delete, actor_of
from dockyard.registry.auth import Caller
from dockyard.registry.context import Call, PushTarget, Target
from dockyard.services.content import Lookup, ManifestUnknownError, ManifestView
from dockyard.services.scanning import SCANNER


def _acceptable(accept: list[str], media_type: str) -> bool:
    """Serve the stored type unless the client named manifest types that exclude it.

    Go clients send one ``Accept`` line per media type, so every line counts."""
    offered = {part.split(";")[0].strip().lower() for line in accept for part in line.split(",")}
    offered.discard("")
    if not offered:
        return True
    if media_type in offered or not offered & (mt.MANIFESTS | mt.SCHEMA1):
        return True
    return bool(offered & {"*/*", "application/*"})


def find_manifest(call: Call, name: RepositoryName) -> Awaitable[Lookup[ManifestView]]:
    """The repository and the manifest by tag or digest, in one statement."""
    return call.services.content.lookup_manifest(
        call.instance.id, str(name), call.params["reference"]
    )


def _is_external_scanner(caller: Caller) -> bool:
    """The pull token Dockyard itself issued an external scanner (one repository, pull
    only, short-lived, no user): the pull gates would refuse the very pull that scans an
    image not yet scanned or signed."""
    claims = caller.claims
    return claims is not None and claims.subject == SCANNER and claims.user_id is None


async def get_manifest(call: Call, target: Target, view: ManifestView) -> Response:
    if not _acceptable(call.request.headers.getlist("accept"), view.media_type):
        raise ManifestUnknownError(
            f"manifest {call.params['reference']} is stored as {view.media_type}, "
            "which the Accept header excludes"
        )
    scanner = _is_external_scanner(target.caller)
    if view.signature_gated and call.services.signatures is not None and not scanner:
        await call.services.signatures.check_pull(
            target.repo, call.params["reference"], view.digest
        )
    if view.scan_gated and not call.head and call.services.scan_gate is not None and not scanner:
        await call.services.scan_gate.check_pull(target.repo, view)
    headers = {"Docker-Content-Digest": view.digest, "ETag": f'"{view.digest}"'}
    if call.head:
        headers["Content-Length"] = str(len(view.content))
        return Response(status_code=200, media_type=view.media_type, headers=headers)
    return Response(view.content, media_type=view.media_type, headers=headers)


async def _read_body(call: Call) -> bytes:
    length = call.request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_MANIFEST_BYTES:
        raise ManifestTooLargeError(f"manifest exceeds {MAX_MANIFEST_BYTES} bytes")
    body = bytearray()
    async for chunk in call.body():
        body += chunk
        if len(body) > MAX_MANIFEST_BYTES:
            raise ManifestTooLargeError(f"manifest exceeds {MAX_MANIFEST_BYTES} bytes")
    return bytes(body)


async def put_manifest(call: Call, target: PushTarget) -> Response:
    body = await _read_body(call)  # an oversized manifest creates no repository
    pushed = await call.services.content.put_manifest(
        await target.ensure(),
        call.params["reference"],
        body,
        call.request.headers.get("content-type"),
        target.caller.name,
        actor=actor_of(call, target.caller),
        resource=call.instance.repository_arn(str(target.name)),
    )
    headers = {
        "Location": call.url(f"/v2/{target.name}/manifests/{pushed.digest}"),
        "Docker-Content-Digest": pushed.digest,
        "Content-Length": "0",
    }
    if pushed.subject:
        headers["OCI-Subject"] = pushed.subject
    return Response(status_code=201, headers=headers)


async def delete_manifest(call: Call, target: Target) -> Response:
    return await accepted_delete(call, target, call.services.content.delete_manifest, "reference")
