"""The offline vulnerability database: import OSV records, read its state.

The database serves every instance of the deployment, so both operations are authorized
on ``*``. An import's body is the file itself: an OSV ``.zip`` export
(``application/zip``) or JSON holding one record or a list of them; the CLI packs a
directory into a zip. The records are validated before any is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import route
from dockyard.api.schemas.vulndb import VulnDbImportOut, VulnDbStatusOut
from dockyard.errors import InvalidInputError

router = APIRouter(prefix="/api/v1/vulndb", tags=["vulnerability database"])

#: Bytes an import body may have (OSV's largest per-ecosystem exports are far smaller).
MAX_IMPORT_BYTES = 1024 * 1024 * 1024


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_IMPORT_BYTES:
            raise InvalidInputError(f"an import is at most {MAX_IMPORT_BYTES} bytes")
    return bytes(data)


@route(
    router,
    "POST",
    "/imports",
    actions.IMPORT_VULN_DB,
    "Import OSV vulnerability records (a .zip export or JSON)",
    status_code=201,
    response_model=VulnDbImportOut,
    description=(
        "The body is an OSV per-ecosystem `.zip` export (`application/zip`) or a JSON "
        "record or list of records (`application/json`). Every record is validated "
        "first: one bad record refuses the import (400) and nothing is stored. Records "
        "already present are replaced in place. Nothing reaches the network."
    ),
)
async def import_records(
    request: Request,
    svc: Services,
    guard: Authz,
    source: Annotated[str, Query(max_length=400, description="The file's name")] = "upload",
) -> VulnDbImportOut:
    resource = actions.everything()
    guard.require(resource)
    result = await svc.vulndb.import_records(
        await _body(request), source, actor=guard.actor, resource=resource
    )
    return VulnDbImportOut.model_validate(result)


@route(
    router,
    "GET",
    "",
    actions.GET_VULN_DB,
    "The vulnerability database: version, import time, records per ecosystem",
    response_model=VulnDbStatusOut,
)
async def status(svc: Services, guard: Authz) -> VulnDbStatusOut:
    guard.require(actions.everything())
    return VulnDbStatusOut.model_validate(await svc.vulndb.status())
