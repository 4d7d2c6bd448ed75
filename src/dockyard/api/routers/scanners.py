"""External scanners: Harbor Pluggable Scanner API adapters registered deployment-wide.

Like the vulnerability database they serve every instance, so registering, listing and
removing are authorized on ``*``. Registering reads the adapter's metadata first and
refuses an adapter that cannot scan image manifests into a Harbor vulnerability report.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import route
from dockyard.api.schemas.scans import ScannerIn, ScannerOut
from dockyard.services.scanning import ExternalScanners, ScannerSpec

router = APIRouter(prefix="/api/v1/scanners", tags=["image scanning"])

ScannerName = Annotated[str, Path(max_length=63, description="The registration's name")]


def _scanners(svc: Services) -> ExternalScanners:
    assert svc.external_scanners is not None
    return svc.external_scanners


@route(
    router,
    "PUT",
    "/{name}",
    actions.CREATE_EXTERNAL_SCANNER,
    "Register (or replace) an external scanner adapter",
    response_model=ScannerOut,
    description=(
        "The adapter implements Harbor's Pluggable Scanner API (v1.1). Its metadata is "
        "read first: an adapter that does not answer, or that cannot scan image manifests "
        "into a Harbor vulnerability report, is refused (400). Every scan then runs it "
        "besides the built-in scanner, or instead of it (`insteadOfBuiltin`)."
    ),
)
async def register_scanner(
    name: ScannerName, body: ScannerIn, svc: Services, guard: Authz
) -> ScannerOut:
    resource = actions.everything()
    guard.require(resource)
    spec = ScannerSpec(body.url, body.registry_url, body.authorization, body.instead_of_builtin)
    view = await _scanners(svc).register(name, spec, actor=guard.actor, resource=resource)
    return ScannerOut.model_validate(view)


@route(
    router,
    "GET",
    "",
    actions.LIST_EXTERNAL_SCANNER,
    "The registered external scanner adapters",
    response_model=list[ScannerOut],
)
async def list_scanners(svc: Services, guard: Authz) -> list[ScannerOut]:
    guard.require(actions.everything())
    return [ScannerOut.model_validate(v) for v in await _scanners(svc).list_scanners()]


@route(
    router,
    "DELETE",
    "/{name}",
    actions.DELETE_EXTERNAL_SCANNER,
    "Remove an external scanner adapter (scans already made keep its findings)",
    status_code=204,
)
async def delete_scanner(name: ScannerName, svc: Services, guard: Authz) -> None:
    resource = actions.everything()
    guard.require(resource)
    await _scanners(svc).delete(name, actor=guard.actor, resource=resource)
