"""The outbox's consumer side: claim unpublished events, mark them published, prune.

The producer side is ``content.add_outbox_event``, called in each change's transaction.
Rows are claimed by state (``published_at IS NULL``), never by a cursor over ids or times:
ids are random UUIDs and ``created_at`` comes from the writer's clock, so on PostgreSQL a
transaction can commit an event older than one already dispatched, and a cursor past the
newer one would skip it for ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CursorResult, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import OutboxEvent
from dockyard.metadata.queries.locks import transaction_lock

#: Outbox dispatchers of every node take turns ("dkoutbox"), so jobs of one ordering key
#: are queued in the order their events were claimed.
DISPATCH_LOCK_KEY = 0x646B6F7574626F78


async def claim_unpublished(session: AsyncSession, limit: int) -> Sequence[OutboxEvent]:
    """Up to ``limit`` unpublished events, oldest first, locked until the transaction ends.

    Call in a write transaction, set each row's ``published_at``, and add the subscribers'
    jobs to the same transaction: the marks and the jobs commit together, or neither does.
    Dispatchers take turns (a transaction lock), so batches are claimed one after another.
    """
    await transaction_lock(session, DISPATCH_LOCK_KEY)
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def prune_published(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` events published before ``before``; how many went."""
    doomed = (
        select(OutboxEvent.id)
        .where(OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < before)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(doomed)))
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


async def has_unpublished(session: AsyncSession) -> bool:
    stmt = select(exists().where(OutboxEvent.published_at.is_(None)))
    return bool((await session.execute(stmt)).scalar_one())
