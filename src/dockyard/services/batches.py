"""Deleting many rows in bounded transactions, so that a large backlog never holds one long
write (the retention prunes of the audit log and the outbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.session import Database

#: Rows per prune transaction, and transactions per pass, for the periodic prunes.
PRUNE_BATCH = 1000
PRUNE_MAX_BATCHES = 100

#: Deletes at most the given number of rows in the session; how many it deleted.
BatchDelete = Callable[[AsyncSession, int], Awaitable[int]]


async def delete_in_batches(
    db: Database, delete: BatchDelete, *, batch_size: int, max_batches: int
) -> int:
    """Run ``delete`` one write transaction at a time until a batch comes back short or
    ``max_batches`` have run (the next pass continues); how many rows went."""
    removed = 0
    for _ in range(max_batches):
        async with db.write() as session:
            count = await delete(session, batch_size)
        removed += count
        if count < batch_size:
            break
    return removed
