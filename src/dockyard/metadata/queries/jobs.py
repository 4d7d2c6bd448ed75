"""The durable job queue's table: enqueue, lease, finish, retry.

A job is ``waiting`` until a worker leases it, ``running`` while leased, and deleted when
completed; ``failed`` jobs ran out of attempts and stay for inspection. While a job is
running, ``run_after`` holds its lease expiry, so "ready" is one index range for both
cases: ``state IN (waiting, running) AND run_after <= now``: a waiting job whose time has
come, or a running job whose worker stopped renewing its lease (crashed or hung).

Every call that changes a leased job names the lease it holds — worker id and attempt
number — and changes nothing when the job was taken over meanwhile (fencing).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, CursorResult, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import Job

WAITING = "waiting"
RUNNING = "running"
FAILED = "failed"


def add_job(
    session: AsyncSession, kind: str, payload: dict[str, object], run_after: datetime
) -> Job:
    """Queue a job in the caller's transaction (so it commits with the change it follows)."""
    job = Job(id=uuid.uuid4(), kind=kind, payload=payload, state=WAITING, run_after=run_after)
    session.add(job)
    return job


async def lease_ready_jobs(
    session: AsyncSession,
    *,
    now: datetime,
    worker: str,
    lease_until: datetime,
    limit: int,
    kinds: Sequence[str] | None,
    max_attempts: int,
) -> tuple[list[Job], list[Job]]:
    """Lease up to ``limit`` ready jobs; returns (leased, buried).

    ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent leasers pass over each
    other's rows instead of queueing on them, and a row leased by a transaction that
    committed meanwhile is re-checked and no longer ready. On SQLite the write transaction
    (``BEGIN IMMEDIATE``) is exclusive already. A job whose lease expired after its last
    allowed attempt is marked failed instead of leased again.
    """
    stmt = (
        select(Job)
        .where(Job.state.in_((WAITING, RUNNING)), Job.run_after <= now)
        .order_by(Job.run_after, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if kinds is not None:
        stmt = stmt.where(Job.kind.in_(list(kinds)))
    leased: list[Job] = []
    buried: list[Job] = []
    for job in (await session.execute(stmt)).scalars().all():
        if job.state == RUNNING and job.attempts >= max_attempts:
            job.state = FAILED
            job.last_error = (
                f"lease of {job.leased_by} expired on attempt {job.attempts} of {max_attempts}"
            )
            job.leased_by = None
            job.lease_expires_at = None
            job.updated_at = now
            buried.append(job)
            continue
        job.state = RUNNING
        job.attempts += 1
        job.leased_by = worker
        job.lease_expires_at = lease_until
        job.run_after = lease_until
        job.updated_at = now
        leased.append(job)
    await session.flush()
    return leased, buried


def _held(job_id: uuid.UUID, worker: str, attempt: int) -> ColumnElement[bool]:
    return and_(
        Job.id == job_id,
        Job.state == RUNNING,
        Job.leased_by == worker,
        Job.attempts == attempt,
    )


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount)


async def complete_job(session: AsyncSession, job_id: uuid.UUID, worker: str, attempt: int) -> bool:
    """Delete a finished job; False when the lease was lost (another worker has it)."""
    return _changed(await session.execute(delete(Job).where(_held(job_id, worker, attempt))))


async def extend_lease(
    session: AsyncSession, job_id: uuid.UUID, worker: str, attempt: int, until: datetime
) -> bool:
    stmt = (
        update(Job)
        .where(_held(job_id, worker, attempt))
        .values(lease_expires_at=until, run_after=until)
    )
    return _changed(await session.execute(stmt))


async def retry_job(
    session: AsyncSession,
    job_id: uuid.UUID,
    worker: str,
    attempt: int,
    *,
    error: str,
    run_after: datetime,
) -> bool:
    """Give a failed attempt back to the queue, to run again at ``run_after``."""
    stmt = (
        update(Job)
        .where(_held(job_id, worker, attempt))
        .values(
            state=WAITING,
            run_after=run_after,
            leased_by=None,
            lease_expires_at=None,
            last_error=error,
        )
    )
    return _changed(await session.execute(stmt))


async def bury_job(
    session: AsyncSession, job_id: uuid.UUID, worker: str, attempt: int, *, error: str
) -> bool:
    """Mark a job failed for good (out of attempts, or not worth retrying)."""
    stmt = (
        update(Job)
        .where(_held(job_id, worker, attempt))
        .values(state=FAILED, leased_by=None, lease_expires_at=None, last_error=error)
    )
    return _changed(await session.execute(stmt))


async def find_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def count_jobs(session: AsyncSession, state: str | None = None) -> int:
    stmt = select(func.count()).select_from(Job)
    if state is not None:
        stmt = stmt.where(Job.state == state)
    return int((await session.execute(stmt)).scalar_one())
