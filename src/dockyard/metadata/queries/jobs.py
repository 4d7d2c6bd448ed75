"""The durable job queue's table: enqueue, lease, finish, retry.

A job is ``waiting`` until a worker leases it, ``running`` while leased, and deleted when
completed; ``failed`` jobs ran out of attempts and stay for inspection. While a job is
running, ``run_after`` holds its lease expiry, so "ready" is one index range for both
cases: ``state IN (waiting, running) AND run_after <= now``: a waiting job whose time has
come, or a running job whose worker stopped renewing its lease (crashed or hung).

Every call that changes a leased job names the lease it holds — worker id and attempt
number — and changes nothing when the job was taken over meanwhile (fencing).

Jobs with an ``ordering_key`` run one at a time per key, in ``(created_at, id)`` order: a
keyed job is ready only when no earlier job of its key is still waiting or running, and no
other job of its key holds a live lease. A ``failed`` job no longer holds its key back.

Periodic schedules (``periodic_schedules``) are claimed here too: a due row is moved to its
next time in the write transaction that enqueues its job, under a row lock (``FOR UPDATE
SKIP LOCKED``; SQLite's write transaction is exclusive), so one node wins each due time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CursorResult,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dockyard.metadata.models import Job, PeriodicSchedule
from dockyard.metadata.queries._insert import insert_ignore
from dockyard.metadata.queries._page import counted_page
from dockyard.metadata.session import prepared

WAITING = "waiting"
RUNNING = "running"
FAILED = "failed"


def add_job(
    session: AsyncSession,
    kind: str,
    payload: dict[str, object],
    run_after: datetime,
    *,
    ordering_key: str | None = None,
    created_at: datetime | None = None,
) -> Job:
    """Queue a job in the caller's transaction (so it commits with the change it follows).

    ``created_at`` orders jobs of one ``ordering_key``; a caller queueing several keyed jobs
    in one transaction passes strictly increasing times (the clock may repeat itself).
    """
    job = Job(
        id=uuid.uuid4(),
        kind=kind,
        payload=payload,
        state=WAITING,
        run_after=run_after,
        ordering_key=ordering_key,
    )
    if created_at is not None:
        job.created_at = job.updated_at = created_at
    session.add(job)
    return job


#: The other jobs of a key, in :func:`_not_held_back`. Made once: a new alias per query
#: rebuilt its column proxies and missed SQLAlchemy's statement cache, which cost the
#: background worker most of its time between jobs.
_OTHER_JOB = aliased(Job)


def _not_held_back(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """True for a job without a key, or whose key no other pending job holds back."""
    other = _OTHER_JOB
    earlier = tuple_(other.created_at, other.id) < tuple_(Job.created_at, Job.id)
    live_lease = and_(other.state == RUNNING, other.run_after > now)
    blocker = exists().where(
        other.ordering_key == Job.ordering_key,
        other.id != Job.id,
        or_(other.state == WAITING, other.state == RUNNING),  # no IN: prepared path
        or_(earlier, live_lease),
    )
    return or_(Job.ordering_key.is_(None), ~blocker)


@dataclass(frozen=True, slots=True)
class LeasedRow:
    """A job this worker leased: what its handler needs."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class BuriedRow:
    """A job marked failed when leased: its lease expired on its last attempt."""

    job: LeasedRow
    error: str


_JOBS: Table = Job.__table__  # type: ignore[assignment]
_NOW: BindParameter[datetime] = bindparam("now", type_=Job.run_after.type)
#: :func:`lease_ready_jobs`' select per (kinds, limit): built once each, for the prepared path.
_READY: dict[tuple[tuple[str, ...] | None, int], Select[*tuple[Any, ...]]] = {}
_TAKE = prepared(
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(
        state=RUNNING,
        attempts=bindparam("new_attempts"),
        leased_by=bindparam("worker"),
        lease_expires_at=bindparam("until"),
        run_after=bindparam("until"),
        updated_at=bindparam("now"),
    )
)
_BURY_EXPIRED = prepared(
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(
        state=FAILED,
        last_error=bindparam("error"),
        leased_by=None,
        lease_expires_at=None,
        updated_at=bindparam("now"),
    )
)


def _ready_statement(kinds: Sequence[str] | None, limit: int) -> Select[*tuple[Any, ...]]:
    key = (None if kinds is None else tuple(kinds), limit)
    stmt = _READY.get(key)
    if stmt is None:
        where = [
            or_(Job.state == WAITING, Job.state == RUNNING),  # no IN: prepared path
            Job.run_after <= _NOW,
            _not_held_back(_NOW),
        ]
        if key[0] is not None:
            where.append(or_(*(Job.kind == kind for kind in key[0])))
        stmt = _READY[key] = prepared(
            select(Job.id, Job.kind, Job.payload, Job.state, Job.attempts, Job.leased_by)
            .where(*where)
            .order_by(Job.run_after, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    return stmt


async def lease_ready_jobs(
    session: AsyncSession,
    *,
    now: datetime,
    worker: str,
    lease_until: datetime,
    limit: int,
    kinds: Sequence[str] | None,
    max_attempts: int,
) -> tuple[list[LeasedRow], list[BuriedRow]]:
    """Lease up to ``limit`` ready jobs; returns them and those buried instead.

    ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent leasers pass over each
    other's rows instead of queueing on them, and a row leased by a transaction that
    committed meanwhile is re-checked and no longer ready. On SQLite the write transaction
    (``BEGIN IMMEDIATE``) is exclusive already. A job whose lease expired after its last
    allowed attempt is marked failed instead of leased again.
    """
    rows = (await session.execute(_ready_statement(kinds, limit), {"now": now})).all()
    leased: list[LeasedRow] = []
    buried: list[BuriedRow] = []
    for job_id, kind, payload, state, attempts, leased_by in rows:
        if state == RUNNING and attempts >= max_attempts:
            error = f"lease of {leased_by} expired on attempt {attempts} of {max_attempts}"
            await session.execute(_BURY_EXPIRED, {"job_id": job_id, "error": error, "now": now})
            buried.append(BuriedRow(LeasedRow(job_id, kind, payload, attempts), error))
            continue
        params = {
            "job_id": job_id,
            "new_attempts": attempts + 1,
            "worker": worker,
            "until": lease_until,
            "now": now,
        }
        await session.execute(_TAKE, params)
        leased.append(LeasedRow(job_id, kind, payload, attempts + 1))
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


#: Every job ends here: built once, for the prepared path.
_COMPLETE = prepared(
    delete(_JOBS).where(
        _JOBS.c.id == bindparam("job_id"),
        _JOBS.c.state == RUNNING,
        _JOBS.c.leased_by == bindparam("worker"),
        _JOBS.c.attempts == bindparam("attempt"),
    )
)


async def complete_job(session: AsyncSession, job_id: uuid.UUID, worker: str, attempt: int) -> bool:
    """Delete a finished job; False when the lease was lost (another worker has it)."""
    params = {"job_id": job_id, "worker": worker, "attempt": attempt}
    result = await session.execute(_COMPLETE, params)
    return bool(result.rowcount)  # type: ignore[attr-defined]


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


async def latest_created_at(
    session: AsyncSession, ordering_keys: Sequence[str]
) -> dict[str, datetime]:
    """The newest job's ``created_at`` per ordering key (keys without jobs are left out)."""
    if not ordering_keys:
        return {}
    stmt = (
        select(Job.ordering_key, func.max(Job.created_at))
        .where(Job.ordering_key.in_(list(ordering_keys)))
        .group_by(Job.ordering_key)
    )
    return {key: when for key, when in (await session.execute(stmt)).all() if key is not None}


async def lock_unstarted_newest(
    session: AsyncSession, ordering_keys: Sequence[str]
) -> dict[str, Job]:
    """Per key, its newest job if no attempt of it has started yet, locked (rows a leaser
    holds are passed over: those are starting), to be given more work of the key."""
    if not ordering_keys:
        return {}
    later = exists().where(
        _OTHER_JOB.ordering_key == Job.ordering_key,
        tuple_(_OTHER_JOB.created_at, _OTHER_JOB.id) > tuple_(Job.created_at, Job.id),
    )
    stmt = (
        select(Job)
        .where(
            Job.ordering_key.in_(list(ordering_keys)),
            Job.state == WAITING,
            Job.attempts == 0,
            ~later,
        )
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    jobs = (await session.execute(stmt)).scalars().all()
    return {job.ordering_key: job for job in jobs if job.ordering_key is not None}


async def has_pending_job(session: AsyncSession, ordering_key: str) -> bool:
    """Whether a job of ``ordering_key`` is waiting or running."""
    stmt = select(
        exists().where(Job.ordering_key == ordering_key, Job.state.in_((WAITING, RUNNING)))
    )
    return bool((await session.execute(stmt)).scalar_one())


async def list_jobs(
    session: AsyncSession,
    *,
    state: str | None,
    kind: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Job], int]:
    """A page of jobs, newest first, and how many match."""
    where: list[ColumnElement[bool]] = []
    if state is not None:
        where.append(Job.state == state)
    if kind is not None:
        where.append(Job.kind == kind)
    newest_first = (Job.created_at.desc(), Job.id.desc())
    return await counted_page(session, Job, where, newest_first, offset, limit)


async def requeue_job(session: AsyncSession, job_id: uuid.UUID, now: datetime) -> Job | None:
    """Give a failed or waiting job a fresh set of attempts, due now; None if neither."""
    job = await session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.state not in (FAILED, WAITING):
        return None
    job.state = WAITING
    job.attempts = 0
    job.run_after = now
    job.leased_by = None
    job.lease_expires_at = None
    job.updated_at = now
    await session.flush()
    return job


async def ensure_schedule(session: AsyncSession, name: str, first_run_at: datetime) -> None:
    """Create the schedule row unless a node made it already."""
    await insert_ignore(session, PeriodicSchedule, name=name, next_run_at=first_run_at)


async def has_due_schedule(session: AsyncSession, names: Sequence[str], now: datetime) -> bool:
    stmt = select(
        exists().where(PeriodicSchedule.name.in_(list(names)), PeriodicSchedule.next_run_at <= now)
    )
    return bool((await session.execute(stmt)).scalar_one())


async def claim_due_schedules(
    session: AsyncSession, names: Sequence[str], now: datetime
) -> list[PeriodicSchedule]:
    """Lock the due schedules among ``names`` that no concurrent transaction holds.

    The caller moves each one's ``next_run_at`` on before its transaction commits.
    """
    stmt = (
        select(PeriodicSchedule)
        .where(PeriodicSchedule.name.in_(list(names)), PeriodicSchedule.next_run_at <= now)
        .order_by(PeriodicSchedule.name)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars().all())


#: :func:`has_ready_job`'s statement per set of kinds: an idle worker asks it every poll,
#: always with the same kinds, so it is built once and runs on the prepared fast path.
_HAS_READY: dict[tuple[str, ...], Select[Any]] = {}


def _has_ready_statement(kinds: Sequence[str]) -> Select[Any]:
    key = tuple(kinds)
    stmt = _HAS_READY.get(key)
    if stmt is None:
        now: BindParameter[datetime] = bindparam("now", type_=Job.run_after.type)
        stmt = _HAS_READY[key] = prepared(
            select(
                exists().where(
                    or_(Job.state == WAITING, Job.state == RUNNING),
                    Job.run_after <= now,
                    or_(*(Job.kind == kind for kind in key)),
                    _not_held_back(now),
                )
            )
        )
    return stmt


async def has_ready_job(session: AsyncSession, now: datetime, kinds: Sequence[str]) -> bool:
    """Whether a lease would find work: a cheap read before taking the write lock."""
    if not kinds:
        return False
    stmt = _has_ready_statement(kinds)
    return bool((await session.execute(stmt, {"now": now})).scalar_one())
