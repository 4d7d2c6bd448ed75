"""Background jobs (administrators): what the workers have queued, are running or gave up
on, filtered by state and kind, with a Retry button on failed and waiting jobs; as the API's
``/api/v1/jobs`` routes, authorized on ``*``."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, configured, page, redirect
from dockyard.errors import ConflictError, InvalidInputError
from dockyard.services.access import actions
from dockyard.services.jobs import JOB_STATES
from dockyard.services.paging import PageRequest

PATH = "/console/jobs"


async def jobs_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.INSPECT_JOB, actions.everything())
    state = context.query("state")
    chosen = state if state in JOB_STATES else None
    kind = context.query("kind")[:64] or None
    listing = await configured(context.svc.jobs, "the job queue").list_jobs(
        PageRequest(context.page_number(), PAGE_SIZE), state=chosen, kind=kind
    )
    extra = urlencode({k: v for k, v in (("state", chosen), ("kind", kind)) if v})
    values.setdefault("errors", {})
    return context.render(
        "jobs.html",
        status=status,
        listing=listing,
        states=JOB_STATES,
        wanted_state=chosen or "",
        kind=kind or "",
        extra=extra,
        may_retry=user.may(actions.RETRY_JOB, actions.everything()),
        **values,
    )


async def retry_job(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    resource = actions.everything()
    await user.require(svc.audit, actions.RETRY_JOB, resource)
    try:
        job_id = uuid.UUID(context.param("job_id"))
    except ValueError as exc:
        raise InvalidInputError("not a job id") from exc
    try:
        await configured(context.svc.jobs, "the job queue").retry(user.actor, job_id, resource)
    except ConflictError as exc:
        return await jobs_page(context, 409, errors={"form": exc.message})
    return redirect(PATH)


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(PATH, page(svc, jobs_page), methods=["GET"]),
        Route(PATH + "/{job_id}/retry", page(svc, retry_job), methods=["POST"]),
    ]
