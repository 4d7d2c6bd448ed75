"""A durable job queue in the metadata database, shared by every worker of every node.

Usage::

    queue = JobQueue(db, worker_id="node-a/1234")
    await queue.enqueue("replicate", {"repository": "ns/app"})        # or add_job() in a
    for job in await queue.lease(kinds=["replicate"]):                  # change's transaction
        try:
            await do_the_work(job.payload)        # renew with queue.extend(job) when long
        except Exception as exc:
            await queue.fail(job, repr(exc))      # retried later, with backoff
        else:
            await queue.complete(job)

Jobs given the same ``ordering_key`` run one at a time, in the order they were queued
(the events of one repository, for one subscriber); a failed one stops holding the
others back.

Guarantees: a job is leased by one worker at a time (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the exclusive write transaction on SQLite). A worker that crashes or hangs
stops renewing its lease; once the lease expires, another worker leases the job again —
delivery is at-least-once, so handlers must be idempotent. After ``max_attempts`` failed
or abandoned attempts a job is marked ``failed`` and kept for inspection; the queue's
``given_up`` callback of its kind, if any, runs in that same transaction (a job's own
record, such as a replication task, then says it failed too). A worker that
lost its lease (it expired and the job moved on) can no longer complete or fail the job:
those calls return False. Leases, completions and failures are committed without waiting
for the disk (``Database.write(durable=False)``): losing one in a power cut only runs a
job again, which at-least-once allows, and the next durable commit syncs them anyway.
Times come from the nodes' clocks, which should be in sync (NTP);
leases are long compared with any sane skew.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.session import Database

DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True, slots=True)
class JobRun:
    """One attempt at a job, as its handler sees it."""

    id: uuid.UUID
    kind: str
    payload: dict[str, object]
    #: 1 for the first attempt; of a leased job, the fencing token of its lease.
    attempt: int
    #: The worker whose lease this attempt runs under (None: run outside the queue).
    leased_by: str | None = field(default=None, kw_only=True)


async def complete_in(session: AsyncSession, run: JobRun) -> bool:
    """Complete ``run``'s job in the handler's own write transaction, which then commits
    the job's work and its end at once (one transaction less per job). True when done
    so — the handler returns :data:`COMPLETED` — and False for a run outside the queue,
    or when another worker holds the job now (its lease lapsed): the worker's own
    completion then finds the lease lost and says so."""
    if run.leased_by is None:
        return False
    return await jq.complete_job(session, run.id, run.leased_by, run.attempt)


#: What a handler returns when it completed its job itself (:func:`complete_in`).
COMPLETED = "completed"


#: Told, in the transaction that marks it failed, that a job was given up, and why.
GivenUp = Callable[[AsyncSession, JobRun, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LeasedJob(JobRun):
    """A job this worker holds until ``lease_expires_at`` (renew with ``extend``)."""

    lease_expires_at: datetime


class JobQueue:
    def __init__(
        self,
        db: Database,
        worker_id: str,
        *,
        lease: timedelta = DEFAULT_LEASE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: timedelta = BACKOFF_BASE,
        backoff_max: timedelta = BACKOFF_MAX,
        given_up: Mapping[str, GivenUp] | None = None,
    ) -> None:
        self._db = db
        self.worker_id = worker_id
        self.lease_duration = lease
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._given_up = dict(given_up or {})

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, object],
        *,
        delay: timedelta = timedelta(0),
        ordering_key: str | None = None,
    ) -> uuid.UUID:
        """Queue a job; jobs sharing an ``ordering_key`` run one at a time, oldest first."""
        async with self._db.write() as session:
            job = jq.add_job(
                session, kind, payload, SYSTEM_CLOCK.now() + delay, ordering_key=ordering_key
            )
        return job.id

    async def has_ready(self, kinds: Sequence[str]) -> bool:
        """Whether :meth:`lease` would find a job (a read, not a write transaction)."""
        async with self._db.read() as session:
            return await jq.has_ready_job(session, SYSTEM_CLOCK.now(), kinds)

    async def lease(self, kinds: Sequence[str] | None = None, limit: int = 1) -> list[LeasedJob]:
        """Up to ``limit`` ready jobs (oldest first), leased to this worker."""
        now = SYSTEM_CLOCK.now()
        until = now + self.lease_duration
        async with self._db.write(durable=False) as session:
            leased, buried = await jq.lease_ready_jobs(
                session,
                now=now,
                worker=self.worker_id,
                lease_until=until,
                limit=limit,
                kinds=kinds,
                max_attempts=self.max_attempts,
            )
            for row in buried:
                job = row.job
                await self._give_up(
                    session, JobRun(job.id, job.kind, job.payload, job.attempts), row.error
                )
            return [
                LeasedJob(j.id, j.kind, j.payload, j.attempts, until, leased_by=self.worker_id)
                for j in leased
            ]

    async def complete(self, job: LeasedJob) -> bool:
        """Done: the job is removed. False when the lease had been lost."""
        async with self._db.write(durable=False) as session:
            return await jq.complete_job(session, job.id, self.worker_id, job.attempt)

    async def extend(self, job: LeasedJob) -> LeasedJob | None:
        """Renew the lease for another lease period; None when it had been lost."""
        until = SYSTEM_CLOCK.now() + self.lease_duration
        async with self._db.write(durable=False) as session:
            if not await jq.extend_lease(session, job.id, self.worker_id, job.attempt, until):
                return None
        return LeasedJob(
            job.id, job.kind, job.payload, job.attempt, until, leased_by=self.worker_id
        )

    async def fail(self, job: LeasedJob, error: str, *, retry: bool = True) -> bool:
        """This attempt failed: run again after a backoff, or fail for good when out of
        attempts (or ``retry=False``). False when the lease had been lost."""
        error = error[:MAX_ERROR_CHARS]
        async with self._db.write(durable=False) as session:
            if not retry or job.attempt >= self.max_attempts:
                if not await jq.bury_job(session, job.id, self.worker_id, job.attempt, error=error):
                    return False
                await self._give_up(session, job, error)
                return True
            return await jq.retry_job(
                session,
                job.id,
                self.worker_id,
                job.attempt,
                error=error,
                run_after=SYSTEM_CLOCK.now() + self.backoff(job.attempt),
            )

    async def _give_up(self, session: AsyncSession, job: JobRun, error: str) -> None:
        if (given_up := self._given_up.get(job.kind)) is not None:
            await given_up(session, job, error)

    def backoff(self, attempt: int) -> timedelta:
        """Delay after failed attempt ``attempt``: base · 2^(attempt-1), capped."""
        delay: timedelta = self.backoff_base * (2 ** max(0, attempt - 1))
        return min(self.backoff_max, delay)
