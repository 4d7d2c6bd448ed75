"""The audit log's rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import AuditEvent
from dockyard.metadata.queries._insert import insert_row
from dockyard.metadata.queries._page import counted_page


async def add_audit_event(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    actor: str,
    actor_id: uuid.UUID | None,
    source_ip: str,
    action: str,
    resource: str,
    outcome: str,
    detail: dict[str, Any] | None,
    at: Any,
) -> None:
    await insert_row(
        session,
        AuditEvent,
        account_id=account_id,
        actor=actor,
        actor_id=actor_id,
        source_ip=source_ip,
        action=action,
        resource=resource,
        outcome=outcome,
        detail=detail or {},
        at=at,
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Exact matches on actor, action and outcome; ``since`` inclusive, ``until`` exclusive."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(
    session: AsyncSession,
    account_id: uuid.UUID,
    where: EventFilter,
    offset: int,
    limit: int,
) -> tuple[Sequence[AuditEvent], int]:
    """A page of events, newest first, and how many match in all."""
    conditions: list[Any] = [AuditEvent.account_id == account_id]
    if where.actor is not None:
        conditions.append(AuditEvent.actor == where.actor)
    if where.action is not None:
        conditions.append(AuditEvent.action == where.action)
    if where.outcome is not None:
        conditions.append(AuditEvent.outcome == where.outcome)
    if where.since is not None:
        conditions.append(AuditEvent.at >= where.since)
    if where.until is not None:
        conditions.append(AuditEvent.at < where.until)
    newest_first = (AuditEvent.at.desc(), AuditEvent.id.desc())
    return await counted_page(session, AuditEvent, conditions, newest_first, offset, limit)


async def delete_older_than(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """Delete at most ``limit`` events from before ``cutoff`` (oldest first); how many went.

    Bounded so that one prune never holds a long lock or a huge transaction.
    """
    ids = (
        (
            await session.execute(
                select(AuditEvent.id)
                .where(AuditEvent.at < cutoff)
                .order_by(AuditEvent.at)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
    return len(ids)
