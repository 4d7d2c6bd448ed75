"""Garbage collection: the reference graph's unreferenced rows, and the record of runs.

Every function that deletes locks the rows first (``FOR UPDATE`` on PostgreSQL; a SQLite
write transaction is exclusive) and checks again, under that lock, the condition the
candidate was chosen by: whatever committed meanwhile (a manifest naming the blob, a
client's pardon) is seen, and whatever waits for the lock sees the deletion.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import (
    Blob,
    GcRun,
    Manifest,
    ManifestReference,
    RepositoryBlob,
    Tag,
)
from dockyard.metadata.queries._insert import insert_row, insert_unless_present
from dockyard.metadata.queries._page import counted_page
from dockyard.metadata.queries.locks import transaction_lock

#: "dkgc": the advisory lock every start of a run takes on PostgreSQL.
GC_LOCK_KEY = 0x646B6763

RUNNING = "running"
ABANDONED = "abandoned"

_BLOBS: Table = Blob.__table__  # type: ignore[assignment]
_LINKS: Table = RepositoryBlob.__table__  # type: ignore[assignment]
_REFS: Table = ManifestReference.__table__  # type: ignore[assignment]
_MANIFESTS: Table = Manifest.__table__  # type: ignore[assignment]
_TAGS: Table = Tag.__table__  # type: ignore[assignment]
_RUNS: Table = GcRun.__table__  # type: ignore[assignment]

#: No manifest of any repository names the blob (config or layer).
_UNREFERENCED = ~exists().where(_REFS.c.digest == _BLOBS.c.digest)
_UNLINKED = ~exists().where(_LINKS.c.blob_id == _BLOBS.c.id)


# ---- runs and the lease ----------------------------------------------------------------


async def start_run(
    session: AsyncSession, values: dict[str, Any], now: datetime
) -> uuid.UUID | None:
    """Insert a running run holding the lease, unless a run with a live lease exists (its
    id is then returned instead, and nothing is written). Runs whose lease lapsed (their
    node died) are recorded as abandoned first."""
    await transaction_lock(session, GC_LOCK_KEY)
    running = select(_RUNS.c.id, _RUNS.c.lease_expires_at).where(_RUNS.c.status == RUNNING)
    for run_id, until in (await session.execute(running.with_for_update())).all():
        if until > now:
            return uuid.UUID(str(run_id))
        await session.execute(
            update(_RUNS)
            .where(_RUNS.c.id == run_id)
            .values(status=ABANDONED, finished_at=until, error="the run's node stopped")
        )
    await insert_row(session, GcRun, **values)
    return None


async def update_run(session: AsyncSession, run_id: uuid.UUID, **values: Any) -> bool:
    """Record progress (and renew the lease) of a run still running; False when it is not
    (its lease lapsed and another start recorded it as abandoned)."""
    result = await session.execute(
        update(_RUNS).where(_RUNS.c.id == run_id, _RUNS.c.status == RUNNING).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def find_run(session: AsyncSession, run_id: uuid.UUID) -> GcRun | None:
    return await session.get(GcRun, run_id)


async def list_runs(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[GcRun], int]:
    """A page of runs, newest first, and how many there are."""
    order = (GcRun.started_at.desc(), GcRun.id.desc())
    return await counted_page(session, GcRun, [], order, offset, limit)


# ---- untagged manifests ----------------------------------------------------------------


async def untagged_manifests(
    session: AsyncSession, created_before: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(repository id, manifest id) of manifests no tag points at, pushed before
    ``created_before``. Children of an index and referrers of a present subject are among
    them: the caller keeps those with ``content.lock_unreferenced_manifests``."""
    stmt = (
        select(_MANIFESTS.c.repository_id, _MANIFESTS.c.id)
        .where(
            _MANIFESTS.c.created_at < created_before,
            ~exists().where(_TAGS.c.manifest_id == _MANIFESTS.c.id),
        )
        .order_by(_MANIFESTS.c.repository_id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


# ---- blobs: mark -----------------------------------------------------------------------


def _old_enough(cutoff: datetime) -> Any:
    """Created, and linked to every repository it is in, before ``cutoff``."""
    return and_(
        _BLOBS.c.created_at < cutoff,
        ~exists().where(_LINKS.c.blob_id == _BLOBS.c.id, _LINKS.c.created_at >= cutoff),
    )


async def unreferenced_blobs(
    session: AsyncSession, cutoff: datetime
) -> list[tuple[uuid.UUID, str, int, datetime | None]]:
    """(id, digest, size, condemned at) of every blob no manifest names that is older than
    ``cutoff``: the candidates, before any lock."""
    stmt = select(_BLOBS.c.id, _BLOBS.c.digest, _BLOBS.c.size, _BLOBS.c.condemned_at).where(
        _UNREFERENCED, _old_enough(cutoff)
    )
    return [(row[0], row[1], row[2], row[3]) for row in await session.execute(stmt)]


async def condemn(
    session: AsyncSession, blob_ids: Sequence[uuid.UUID], cutoff: datetime, now: datetime
) -> int:
    """Mark those of ``blob_ids`` still unreferenced and old enough (the time of those
    already condemned stays); how many matched."""
    if not blob_ids:
        return 0
    # Rows already condemned keep their time (COALESCE), rather than a condition on
    # condemned_at that would lead SQLite's planner to scan that index.
    result = await session.execute(
        update(_BLOBS)
        .where(_BLOBS.c.id.in_(list(blob_ids)), _UNREFERENCED, _old_enough(cutoff))
        .values(condemned_at=func.coalesce(_BLOBS.c.condemned_at, now))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def any_referenced_condemned(session: AsyncSession) -> bool:
    """Whether a condemned blob is named by a manifest again (read before ``acquit``)."""
    stmt = select(_BLOBS.c.id).where(_BLOBS.c.condemned_at.is_not(None), ~_UNREFERENCED)
    return (await session.execute(stmt.limit(1))).first() is not None


async def acquit_referenced(session: AsyncSession) -> int:
    """Lift the condemnation of blobs a manifest names again."""
    result = await session.execute(
        update(_BLOBS)
        .where(_BLOBS.c.condemned_at.is_not(None), ~_UNREFERENCED)
        .values(condemned_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# ---- blobs: sweep ----------------------------------------------------------------------


async def due_blobs(
    session: AsyncSession, condemned_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Blobs condemned before ``condemned_before`` (the sweep's candidates, unlocked)."""
    stmt = (
        select(_BLOBS.c.id)
        .where(_BLOBS.c.condemned_at <= condemned_before)
        .order_by(_BLOBS.c.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def unlink_due(
    session: AsyncSession, blob_ids: Sequence[uuid.UUID], condemned_before: datetime
) -> int:
    """Lock the blobs, and unlink from every repository those still condemned before
    ``condemned_before`` that still no manifest names: from now on no client sees them,
    so none can prove them to a manifest. Returns how many were unlinked."""
    if not blob_ids:
        return 0
    locked = (
        select(_BLOBS.c.id)
        .where(_BLOBS.c.id.in_(list(blob_ids)), _BLOBS.c.condemned_at <= condemned_before)
        .with_for_update()
    )
    ids = list((await session.execute(locked)).scalars())
    if not ids:
        return 0
    # Checked after the lock: a manifest that share-locked one of them has committed.
    still = select(_BLOBS.c.id).where(_BLOBS.c.id.in_(ids), _UNREFERENCED)
    doomed = list((await session.execute(still)).scalars())
    if doomed:
        await session.execute(delete(_LINKS).where(_LINKS.c.blob_id.in_(doomed)))
    return len(doomed)


async def lock_unlinked(
    session: AsyncSession, blob_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str, int]]:
    """(id, digest, size) of those of ``blob_ids`` that are condemned, linked to no
    repository and named by no manifest, locked: their bytes and rows may go while the lock
    is held."""
    if not blob_ids:
        return []
    locked = select(_BLOBS.c.id).where(_BLOBS.c.id.in_(list(blob_ids))).with_for_update()
    ids = list((await session.execute(locked)).scalars())
    if not ids:
        return []
    # Checked after the lock, in a statement of its own (a new snapshot on PostgreSQL): a
    # claim that linked or pardoned one meanwhile has committed.
    still = select(_BLOBS.c.id, _BLOBS.c.digest, _BLOBS.c.size).where(
        _BLOBS.c.id.in_(ids), _BLOBS.c.condemned_at.is_not(None), _UNLINKED, _UNREFERENCED
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(still)]


async def delete_blob_rows(session: AsyncSession, blob_ids: Sequence[uuid.UUID]) -> None:
    if blob_ids:
        await session.execute(delete(_BLOBS).where(_BLOBS.c.id.in_(list(blob_ids))))


# ---- orphan bytes ----------------------------------------------------------------------


async def known_digests(session: AsyncSession, digests: Sequence[str]) -> set[str]:
    """Those of ``digests`` that have a blob row."""
    if not digests:
        return set()
    stmt = select(_BLOBS.c.digest).where(_BLOBS.c.digest.in_(list(digests)))
    return set((await session.execute(stmt)).scalars())


async def hold_orphan(
    session: AsyncSession, digest: str, size: int, now: datetime
) -> uuid.UUID | None:
    """Insert a placeholder row for bytes that have none, so a concurrent link of the same
    digest waits (unique key) until the caller's transaction ends and then proves the
    bytes; None when a row exists (the bytes are not orphans)."""
    row = await insert_unless_present(session, Blob, digest=digest, size=size, condemned_at=now)
    return None if row is None else uuid.UUID(str(row["id"]))
