"""Tag listing, the catalog and the referrers API, with ``n``/``last`` paging and Link."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from dockyard.oci import mediatypes as mt
from dockyard.registry.context import Call
from dockyard.registry.errors import PaginationError
from dockyard.services.access import LIST_REPOSITORY, PULL
from dockyard.services.tenancy import NameUnknownError

MAX_PAGE = 1000


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


async def list_tags(call: Call) -> Response:
    name = call.name()
    try:
        n, bad_n = _page_size(call), None
    except PaginationError as exc:
        n, bad_n = 0, exc  # reported after authorization, as before
    # One statement: the repository and the page; authorized before anything is used.
    found = await call.services.content.lookup_tags(
        call.instance.id, str(name), call.request.query_params.get("last"), n
    )
    await call.authorize(PULL, name, found.repo)
    if found.repo is None:
        raise NameUnknownError(f"repository {name} not known")
    if bad_n is not None:
        raise bad_n
    tags, more = found.get()
    headers = _link(f"/v2/{name}/tags/list", n, tags[-1]) if more and n else None
    return _json({"name": str(name), "tags": tags}, headers)


async def catalog(call: Call) -> Response:
    await call.services.auth.require(
        call.request, call.base_url, call.instance, LIST_REPOSITORY, None
    )
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


async def referrers(call: Call) -> Response:
    name = call.name()
    repo = await call.services.tenancy.find_repository(call.instance.id, name)
    await call.authorize(PULL, name, repo)
    if repo is None:
        raise NameUnknownError(f"repository {name} not known")
    artifact_type = call.request.query_params.get("artifactType")
    manifests = await call.services.content.referrers(repo, call.params["digest"], artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else None
    return Response(
        orjson.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}),
        media_type=mt.OCI_INDEX,
        headers=headers,
    )
