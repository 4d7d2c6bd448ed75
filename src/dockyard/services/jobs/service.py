"""Background jobs as the rest of Dockyard sees them: handlers, periodic schedules, views.

A *job handler* is an async callable taking a :class:`JobRun`. The composition root
(``dockyard.bootstrap``) registers one handler per job kind; the background workers
(``dockyard.workers.runtime``) lease jobs from the queue and call the handler of the job's
kind. Handlers must be idempotent: a job whose worker died mid-run runs again. A handler
signals failure by raising: the job is retried with backoff, or failed for good when it
raises :class:`PermanentJobError` or runs out of attempts.

A :class:`PeriodicJob` is a handler run once per ``interval`` *per deployment*: the
:class:`Scheduler` of every worker process tries to claim the due schedules, one claim
wins each due time (a row lock in the transaction that enqueues the job), and the job's
ordering key ``periodic:<name>`` keeps two runs of it from overlapping even when one runs
longer than the interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import ConflictError, InvalidInputError, NotFoundError
from dockyard.metadata.models import Job
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.jobs.queue import JobRun
from dockyard.services.paging import Page, PageRequest

JOB_STATES = (jq.WAITING, jq.RUNNING, jq.FAILED)


#: Runs one attempt; raising fails it (retried later unless :class:`PermanentJobError`).
#: It returns :data:`~dockyard.services.jobs.queue.COMPLETED` when it completed the job in
#: its own transaction (``complete_in``), else None and the worker completes the job.
JobHandler = Callable[[JobRun], Awaitable[str | None]]


class PermanentJobError(Exception):
    """Raised by a handler whose job can never succeed: fail it now, without retrying."""


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """Work run once per ``interval`` across the whole deployment."""

    #: Also the job kind and the schedule row's key.
    name: str
    interval: timedelta
    handler: JobHandler

    @property
    def ordering_key(self) -> str:
        return f"periodic:{self.name}"


class Scheduler:
    """Turns due periodic schedules into jobs; every worker process runs one."""

    def __init__(
        self, db: Database, jobs: Sequence[PeriodicJob], clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._db = db
        self._jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._ensured = False

    @property
    def shortest_interval(self) -> timedelta | None:
        """Looking for due schedules more often than this finds nothing new."""
        return min((job.interval for job in self._jobs.values()), default=None)

    async def tick(self) -> list[str]:
        """Enqueue every due periodic job this process wins; their names."""
        if not self._jobs:
            return []
        now = self._clock.now()
        if not self._ensured:
            async with self._db.write() as session:
                for job in self._jobs.values():
                    await jq.ensure_schedule(session, job.name, now + job.interval)
            self._ensured = True
        async with self._db.read() as session:  # idle ticks stay off the write lock
            if not await jq.has_due_schedule(session, list(self._jobs), now):
                return []
        enqueued: list[str] = []
        async with self._db.write() as session:
            for row in await jq.claim_due_schedules(session, list(self._jobs), now):
                job = self._jobs[row.name]
                row.next_run_at = now + job.interval
                # A run still pending (slow, or retrying) covers this due time too.
                if not await jq.has_pending_job(session, job.ordering_key):
                    jq.add_job(session, job.name, {}, now, ordering_key=job.ordering_key)
                    enqueued.append(job.name)
        return enqueued


@dataclass(frozen=True, slots=True)
class JobView:
    id: uuid.UUID
    kind: str
    state: str
    attempts: int
    last_error: str | None
    ordering_key: str | None
    created_at: datetime
    updated_at: datetime
    #: When a waiting job is due, or a running job's lease expires.
    run_after: datetime


class JobsService:
    """Lists jobs and retries failed ones (the API's and CLI's view of the queue)."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def list_jobs(
        self, page: PageRequest, *, state: str | None = None, kind: str | None = None
    ) -> Page[JobView]:
        """Jobs, newest first; completed jobs are gone, failed ones stay until retried."""
        if state is not None and state not in JOB_STATES:
            raise InvalidInputError(f"state must be one of {', '.join(JOB_STATES)}")
        async with self._db.read() as session:
            rows, total = await jq.list_jobs(
                session, state=state, kind=kind, offset=page.offset, limit=page.page_size
            )
            items = [_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def retry(self, actor: Actor | None, job_id: uuid.UUID, resource: str) -> JobView:
        """Run a failed (or waiting) job again now, with a fresh set of attempts."""
        async with self._db.write() as session:
            row = await jq.requeue_job(session, job_id, self._clock.now())
            if row is None:
                if await jq.find_job(session, job_id) is None:
                    raise NotFoundError(f"job {job_id} does not exist")
                raise ConflictError(
                    f"job {job_id} is running; only failed or waiting jobs are retried"
                )
            view = _view(row)
            await self._audit.change(
                session, actor, "cr:RetryJob", resource, {"job": str(job_id), "kind": row.kind}
            )
        return view


def _view(row: Job) -> JobView:
    return JobView(
        row.id,
        row.kind,
        row.state,
        row.attempts,
        row.last_error,
        row.ordering_key,
        row.created_at,
        row.updated_at,
        row.run_after,
    )
