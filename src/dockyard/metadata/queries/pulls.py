"""Pull leases: take, renew, release, and count the distinct addresses pulling.

Every blob download takes a lease before its first byte, so these run once per blob GET:
prepared Core statements (the SQLite fast path), no ORM unit of work.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Table, bindparam, case, delete, distinct, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import PullLease
from dockyard.metadata.session import prepared

_LEASES: Table = PullLease.__table__  # type: ignore[assignment]

_PURGE = prepared(
    delete(_LEASES).where(
        _LEASES.c.instance_id == bindparam("instance_id"),
        _LEASES.c.expires_at <= bindparam("now"),
    )
)
_LIVE = (
    _LEASES.c.instance_id == bindparam("instance_id"),
    _LEASES.c.expires_at > bindparam("now"),
)
#: The distinct addresses with a live lease, and whether ``address`` is one of them.
_PULLING = prepared(
    select(
        func.count(distinct(_LEASES.c.address)),
        func.coalesce(func.max(case((_LEASES.c.address == bindparam("address"), 1), else_=0)), 0),
    ).where(*_LIVE)
)
_COUNT = prepared(select(func.count(distinct(_LEASES.c.address))).where(*_LIVE))
_ADD = prepared(insert(_LEASES))
_RENEW = prepared(
    update(_LEASES)
    .where(_LEASES.c.id == bindparam("lease_id"))
    .values(expires_at=bindparam("expires_at"))
)
_DELETE = prepared(delete(_LEASES).where(_LEASES.c.id == bindparam("lease_id")))


async def purge_expired(session: AsyncSession, instance_id: str, now: datetime) -> None:
    """Drop leases nobody renewed (their worker died or hung)."""
    await session.execute(_PURGE, {"instance_id": instance_id, "now": now})


async def pulling_clients(
    session: AsyncSession, instance_id: str, address: str, now: datetime
) -> tuple[int, bool]:
    """(distinct source addresses downloading now, whether ``address`` is one of them)."""
    params = {"instance_id": instance_id, "address": address, "now": now}
    count, pulling = (await session.execute(_PULLING, params)).one()
    return int(count), bool(pulling)


async def count_pulling_clients(session: AsyncSession, instance_id: str, now: datetime) -> int:
    """Distinct source addresses with a download in progress on the instance."""
    result = await session.execute(_COUNT, {"instance_id": instance_id, "now": now})
    return int(result.scalar_one())


async def add_lease(
    session: AsyncSession, instance_id: str, address: str, now: datetime, expires_at: datetime
) -> uuid.UUID:
    lease_id = uuid.uuid4()
    row = {
        "id": lease_id,
        "instance_id": instance_id,
        "address": address,
        "expires_at": expires_at,
        "created_at": now,
    }
    await session.execute(_ADD, row)
    return lease_id


async def renew_lease(session: AsyncSession, lease_id: uuid.UUID, expires_at: datetime) -> bool:
    """False when the lease is gone (it expired and was purged meanwhile)."""
    result = await session.execute(_RENEW, {"lease_id": lease_id, "expires_at": expires_at})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_lease(session: AsyncSession, lease_id: uuid.UUID) -> None:
    await session.execute(_DELETE, {"lease_id": lease_id})
