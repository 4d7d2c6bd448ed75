"""Background jobs: what the workers have queued, are running, or gave up on."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import route
from dockyard.api.routers.params import Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.jobs import JobOut
from dockyard.errors import UnavailableError
from dockyard.services.jobs import JobsService

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


def _jobs(svc: Services) -> JobsService:
    if svc.jobs is None:
        raise UnavailableError("the job queue is not configured")
    return svc.jobs


@route(
    router,
    "GET",
    "",
    actions.INSPECT_JOB,
    "List background jobs, newest first",
    response_model=Page[JobOut],
    description=(
        "Jobs waiting, running, or failed for good (kept for inspection until retried); "
        "finished jobs are removed. Filters: `state` (waiting, running, failed) and `kind` "
        "match exactly."
    ),
)
async def list_jobs(
    paging: Paging,
    svc: Services,
    guard: Authz,
    state: Annotated[str | None, Query(pattern="^(waiting|running|failed)$")] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[JobOut]:
    guard.require(actions.everything())
    page = await _jobs(svc).list_jobs(paging, state=state, kind=kind)
    return Page[JobOut].model_validate(page)


@route(
    router,
    "POST",
    "/{job_id}/retry",
    actions.RETRY_JOB,
    "Retry a failed job now",
    errors=(404, 409),
    response_model=JobOut,
    description=(
        "Gives a failed (or waiting) job a fresh set of attempts, due at once. A running job "
        "is refused with 409 `CONFLICT`."
    ),
)
async def retry_job(job_id: uuid.UUID, svc: Services, guard: Authz) -> JobOut:
    resource = actions.everything()
    guard.require(resource)
    return JobOut.model_validate(await _jobs(svc).retry(guard.actor, job_id, resource))
