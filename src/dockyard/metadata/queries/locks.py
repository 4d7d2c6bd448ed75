"""Cluster-wide mutual exclusion through the database.

On PostgreSQL, ``pg_advisory_xact_lock`` serialises transactions of every node that asks
for the same key, and releases the lock when the transaction ends (commit, rollback, or
the connection dropping because the node died). On SQLite a write unit of work starts with
``BEGIN IMMEDIATE`` and is exclusive already, so nothing more is needed.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

#: First-start setup ("dksetup"): nodes started at once on an empty database take turns.
SETUP_LOCK_KEY = 0x646B7365747570


async def transaction_lock(session: AsyncSession, key: int) -> None:
    """Hold ``key`` until the caller's transaction ends (PostgreSQL); a no-op on SQLite.

    Take it first in the transaction: at READ COMMITTED every later statement then sees
    what the previous holder committed.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
