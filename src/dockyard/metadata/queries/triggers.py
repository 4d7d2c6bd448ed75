"""Triggers and the trigger log: find, list, record deliveries, advance them, prune."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import Repository, Trigger, TriggerDelivery
from dockyard.metadata.queries._insert import insert_ignore
from dockyard.metadata.session import prepared


async def list_triggers(session: AsyncSession, repository_id: uuid.UUID) -> Sequence[Trigger]:
    stmt = select(Trigger).where(Trigger.repository_id == repository_id).order_by(Trigger.name)
    return (await session.execute(stmt)).scalars().all()


async def repositories_with_triggers(
    session: AsyncSession, instance_id: str, full_names: Sequence[str]
) -> set[str]:
    """Which of an instance's repositories (by full name) have at least one trigger."""
    stmt = (
        select(Repository.full_name)
        .join(Trigger, Trigger.repository_id == Repository.id)
        .where(Repository.instance_id == instance_id, Repository.full_name.in_(full_names))
        .distinct()
    )
    return set((await session.execute(stmt)).scalars().all())


async def find_trigger(
    session: AsyncSession, repository_id: uuid.UUID, name: str
) -> Trigger | None:
    stmt = select(Trigger).where(Trigger.repository_id == repository_id, Trigger.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_trigger(session: AsyncSession, trigger_id: uuid.UUID) -> Trigger | None:
    return await session.get(Trigger, trigger_id)


async def delete_trigger(session: AsyncSession, trigger_id: uuid.UUID) -> None:
    await session.execute(delete(Trigger).where(Trigger.id == trigger_id))


async def record_once(session: AsyncSession, **values: Any) -> bool:
    """Insert a delivery record unless its (trigger, event) is recorded already: a re-run
    of the subscriber for one event adds nothing. True when a row was inserted."""
    return await insert_ignore(session, TriggerDelivery, **values)


def add_record(session: AsyncSession, record: TriggerDelivery) -> None:
    session.add(record)


async def get_record(session: AsyncSession, record_id: uuid.UUID) -> TriggerDelivery | None:
    return await session.get(TriggerDelivery, record_id, populate_existing=True)


_RECORDS: Table = TriggerDelivery.__table__  # type: ignore[assignment]
_TRIGGERS: Table = Trigger.__table__  # type: ignore[assignment]
#: What a delivery attempt reads: the record and, if it still exists, its trigger.
_ATTEMPT_INPUTS = prepared(
    select(
        _RECORDS.c.status,
        _RECORDS.c.attempts,
        _RECORDS.c.payload,
        _RECORDS.c.ping,
        _TRIGGERS.c.id.label("trigger_id"),
        _TRIGGERS.c.url,
        _TRIGGERS.c.cloudevents,
        _TRIGGERS.c.secret_encrypted,
    )
    .select_from(_RECORDS.outerjoin(_TRIGGERS, _TRIGGERS.c.id == _RECORDS.c.trigger_id))
    .where(_RECORDS.c.id == bindparam("record_id"))
)
#: Every delivery attempt ends here: built once, for the prepared path.
_FINISH_ATTEMPT = prepared(
    update(_RECORDS)
    .where(
        _RECORDS.c.id == bindparam("record_id"),
        _RECORDS.c.status == "Pending",
        _RECORDS.c.attempts == bindparam("previous_attempts"),
    )
    .values(
        attempts=bindparam("attempt"),
        status=bindparam("new_status"),
        reason=bindparam("new_reason"),
        response_status=bindparam("new_response_status"),
        latency_ms=bindparam("new_latency_ms"),
        updated_at=bindparam("new_updated_at"),
    )
)


async def attempt_inputs(
    session: AsyncSession, record_id: uuid.UUID
) -> Row[*tuple[Any, ...]] | None:
    """A record's status, attempts, payload and ping flag, with its trigger's id, URL,
    CloudEvents flag and encrypted secret (None when the trigger was deleted)."""
    result = await session.execute(_ATTEMPT_INPUTS, {"record_id": record_id})
    return result.first()


async def finish_attempt(
    session: AsyncSession,
    record_id: uuid.UUID,
    attempt: int,
    *,
    status: str,
    reason: str | None,
    response_status: int | None,
    latency_ms: float | None,
    updated_at: datetime,
) -> bool:
    """Record attempt ``attempt`` of a pending delivery; False when that attempt was
    recorded already (a job run twice after a crash) or the record is no longer pending."""
    params = {
        "record_id": record_id,
        "previous_attempts": attempt - 1,
        "attempt": attempt,
        "new_status": status,
        "new_reason": reason,
        "new_response_status": response_status,
        "new_latency_ms": latency_ms,
        "new_updated_at": updated_at,
    }
    result = await session.execute(_FINISH_ATTEMPT, params)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_records(
    session: AsyncSession,
    repository_id: uuid.UUID,
    *,
    trigger: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[TriggerDelivery], int]:
    """A page of the repository's log, newest first, and how many records match."""
    where: list[ColumnElement[bool]] = [TriggerDelivery.repository_id == repository_id]
    if trigger is not None:
        where.append(TriggerDelivery.trigger_name == trigger)
    if status is not None:
        where.append(TriggerDelivery.status == status)
    total = (
        await session.execute(select(func.count()).select_from(TriggerDelivery).where(*where))
    ).scalar_one()
    stmt = (
        select(TriggerDelivery)
        .where(*where)
        .order_by(TriggerDelivery.created_at.desc(), TriggerDelivery.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all(), int(total)


async def prune_records(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` finished records created before ``before``; how many went.

    Pending ones stay: their delivery job still needs them."""
    doomed = (
        select(TriggerDelivery.id)
        .where(TriggerDelivery.created_at < before, TriggerDelivery.status != "Pending")
        .limit(limit)
    )
    ids = list((await session.execute(doomed)).scalars().all())
    if ids:
        await session.execute(delete(TriggerDelivery).where(TriggerDelivery.id.in_(ids)))
    return len(ids)
