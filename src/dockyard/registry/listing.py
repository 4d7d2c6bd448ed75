"""Tag listing, the catalog and the referrers API, with ``n``/``last`` paging and Link."""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.registry.context import Call, Target
from dockyard.registry.errors import PaginationError
from dockyard.services.content import Lookup

MAX_PAGE = 1000

#: A page of tag names, and whether more follow.
TagPage = tuple[list[str], bool]


def _page_size(call: Call) -> int | None:
    raw = call.request.query_params.get("n")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise PaginationError(f"n must be a non-negative integer, got {raw!r}")
    return min(int(raw), MAX_PAGE)


def _json(data: object, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), media_type="application/json", headers=headers)


def _link(path: str, n: int, last: str) -> dict[str, str]:
    return {"Link": f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'}


def find_tags(call: Call, name: RepositoryName) -> Awaitable[Lookup[TagPage]]:
    """The repository and a page of its tags, in one statement. A malformed ``n`` reads
    no tags; :func:`list_tags` reports it after authorization."""
    try:
        n = _page_size(call)
    except PaginationError:
        n = 0
    return call.services.content.lookup_tags(
        call.instance.id, str(name), call.request.query_params.get("last"), n
    )


async def list_tags(call: Call, target: Target, page: TagPage) -> Response:
    n = _page_size(call)
    tags, more = page
    headers = _link(f"/v2/{target.name}/tags/list", n, tags[-1]) if more and n else None
    return _json({"name": str(target.name), "tags": tags}, headers)


async def catalog(call: Call) -> Response:
    n = _page_size(call)
    limit = MAX_PAGE if n is None else n
    names = (
        []
        if limit == 0
        else await call.services.tenancy.list_repository_names(
            call.instance.id, call.request.query_params.get("last"), limit + 1
        )
    )
    more = len(names) > limit
    names = names[:limit]
    headers = _link("/v2/_catalog", limit, names[-1]) if more and names else None
    return _json({"repositories": names}, headers)


async def referrers(call: Call, target: Target) -> Response:
    artifact_type = call.request.query_params.get("artifactType")
    manifests = await call.services.content.referrers(
        target.repo, call.params["digest"], artifact_type
    )
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else None
    return Response(
        orjson.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}),
        media_type=mt.OCI_INDEX,
        headers=headers,
    )
