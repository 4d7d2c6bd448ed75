"""Garbage collection (administrators): the deployment's runs, newest first, with what each
reclaimed or would reclaim, and a form that starts a run or a dry run in the background, as
``POST /api/v1/gc/runs`` does."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.services.access import actions
from dockyard.services.gc import GcRunningError
from dockyard.services.paging import PageRequest

GC_PATH = "/console/gc"


async def gc_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    everything = actions.everything()
    await user.require(svc.audit, actions.LIST_GARBAGE_COLLECTION_RUN, everything)
    runs = await svc.gc.runs(PageRequest(context.page_number(), PAGE_SIZE))
    values.setdefault("errors", {})
    return context.render(
        "gc.html",
        status=status,
        runs=runs,
        here=GC_PATH,
        may_run=user.may(actions.RUN_GARBAGE_COLLECTION, everything),
        **values,
    )


async def start_run(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    everything = actions.everything()
    await user.require(svc.audit, actions.RUN_GARBAGE_COLLECTION, everything)
    try:
        await svc.gc.start(
            actor=user.actor,
            dry_run=context.form.checked("dry_run"),
            resource=everything,
            queued=True,
        )
    except GcRunningError as exc:
        return await gc_page(context, 409, errors={"form": exc.message})
    return redirect(GC_PATH)


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(GC_PATH, page(svc, gc_page), methods=["GET"]),
        Route(GC_PATH + "/runs", page(svc, start_run), methods=["POST"]),
    ]
