"""Scanning pages beside the tag page's: the deployment's vulnerability database (its
version, import time and records per ecosystem; an import of OSV JSON pasted into the
page, as ``POST /api/v1/vulndb/imports`` takes it, both on ``*``) and a repository's scans,
newest first, on the repository's ARN as ``GET …/scans`` is."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, configured, page
from dockyard.console.targets import repository_target
from dockyard.errors import InvalidInputError
from dockyard.services.access import actions
from dockyard.services.paging import PageRequest

PATH = "/console/vulndb"


async def vulndb_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    everything = actions.everything()
    await user.require(svc.audit, actions.GET_VULN_DB, everything)
    values.setdefault("errors", {})
    values.setdefault("imported", None)
    return context.render(
        "vulndb.html",
        status=status,
        state=await configured(context.svc.vulndb, "the vulnerability database").status(),
        may_import=user.may(actions.IMPORT_VULN_DB, everything),
        **values,
    )


async def import_records(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    everything = actions.everything()
    await user.require(svc.audit, actions.IMPORT_VULN_DB, everything)
    text = context.form.secret("records")
    try:
        imported = await configured(
            context.svc.vulndb, "the vulnerability database"
        ).import_records(text.encode(), "console.json", actor=user.actor, resource=everything)
    except InvalidInputError as exc:
        return await vulndb_page(context, 400, errors={"records": exc.message})
    return await vulndb_page(context, imported=imported)


async def scans_page(context: PageContext) -> Response:
    target = await repository_target(context, actions.LIST_IMAGE_SCAN)
    svc = context.svc
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    scans = await svc.scans.list_scans(repo, PageRequest(context.page_number(), PAGE_SIZE))
    here = (
        f"/console/instances/{target.instance.id}/namespaces/{target.namespace}"
        f"/repositories/{target.name}"
    )
    return context.render("scans.html", target=target, here=here, scans=scans)


def routes(svc: ConsoleServices) -> list[Route]:
    repo = "/console/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}"
    return [
        Route(PATH, page(svc, vulndb_page), methods=["GET"]),
        Route(PATH, page(svc, import_records), methods=["POST"]),
        Route(repo + "/scans", page(svc, scans_page), methods=["GET"]),
    ]
