"""Pull leases: take, renew, release, and count the distinct addresses pulling."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import PullLease


async def purge_expired(session: AsyncSession, instance_id: str, now: datetime) -> None:
    """Drop leases nobody renewed (their worker died or hung)."""
    await session.execute(
        delete(PullLease).where(PullLease.instance_id == instance_id, PullLease.expires_at <= now)
    )


async def is_pulling(session: AsyncSession, instance_id: str, address: str, now: datetime) -> bool:
    stmt = (
        select(PullLease.id)
        .where(
            PullLease.instance_id == instance_id,
            PullLease.address == address,
            PullLease.expires_at > now,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def count_pulling_clients(session: AsyncSession, instance_id: str, now: datetime) -> int:
    """Distinct source addresses with a download in progress on the instance."""
    stmt = select(func.count(distinct(PullLease.address))).where(
        PullLease.instance_id == instance_id, PullLease.expires_at > now
    )
    return int((await session.execute(stmt)).scalar_one())


def add_lease(
    session: AsyncSession, instance_id: str, address: str, now: datetime, expires_at: datetime
) -> uuid.UUID:
    lease = PullLease(
        id=uuid.uuid4(),
        instance_id=instance_id,
        address=address,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(lease)
    return lease.id


async def renew_lease(session: AsyncSession, lease_id: uuid.UUID, expires_at: datetime) -> bool:
    """False when the lease is gone (it expired and was purged meanwhile)."""
    result = await session.execute(
        update(PullLease).where(PullLease.id == lease_id).values(expires_at=expires_at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_lease(session: AsyncSession, lease_id: uuid.UUID) -> None:
    await session.execute(delete(PullLease).where(PullLease.id == lease_id))
