"""Online garbage collection: start a run, read the runs (PRODUCT.md §13).

Storage is shared by every instance of the deployment, so both operations are authorized
on ``*``. A run is started here and executed by a background worker (a ``gc-run`` job queued
with the run's record): the answer (202) is that record, which ``GET /runs/{id}`` shows
progressing — a run on a large registry outlives any HTTP timeout, takes no HTTP worker's
time from requests, and is run again if its worker dies.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import route
from dockyard.api.routers.params import Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.gc import GcRunOut, GcRunRequest

router = APIRouter(prefix="/api/v1/gc", tags=["garbage collection"])


@route(
    router,
    "POST",
    "/runs",
    actions.RUN_GARBAGE_COLLECTION,
    "Start a garbage collection run (or a dry run)",
    errors=(409,),
    status_code=202,
    response_model=GcRunOut,
    description=(
        "Starts a run in the background and answers its record at once; poll "
        "`GET /api/v1/gc/runs/{id}` until `status` is no longer `running`. One run at a "
        "time per deployment: while another runs, 409 `CONFLICT`. Pushes and pulls go on "
        "during a run. A blob found unreferenced is deleted by a run at least the grace "
        "period (`DOCKYARD_GC_GRACE_SECONDS`) later; a dry run deletes nothing."
    ),
)
async def start_run(body: GcRunRequest, svc: Services, guard: Authz) -> GcRunOut:
    resource = actions.everything()
    guard.require(resource)
    view = await svc.gc.start(
        actor=guard.actor, dry_run=body.dry_run, resource=resource, queued=True
    )
    return GcRunOut.model_validate(view)


@route(
    router,
    "GET",
    "/runs",
    actions.LIST_GARBAGE_COLLECTION_RUN,
    "List garbage collection runs, newest first",
    response_model=Page[GcRunOut],
)
async def list_runs(paging: Paging, svc: Services, guard: Authz) -> Page[GcRunOut]:
    guard.require(actions.everything())
    return Page[GcRunOut].model_validate(await svc.gc.runs(paging))


@route(
    router,
    "GET",
    "/runs/{run_id}",
    actions.LIST_GARBAGE_COLLECTION_RUN,
    "Get a garbage collection run (its progress while it runs)",
    errors=(404,),
    response_model=GcRunOut,
)
async def get_run(run_id: uuid.UUID, svc: Services, guard: Authz) -> GcRunOut:
    guard.require(actions.everything())
    return GcRunOut.model_validate(await svc.gc.get(run_id))
