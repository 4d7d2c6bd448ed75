"""The vulnerability database's rows: replace records in place, count, and look up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import VulnDbImport, VulnPackage, VulnRecord

#: Rows per statement.
CHUNK = 500

_RECORDS: Table = VulnRecord.__table__  # type: ignore[assignment]
_PACKAGES: Table = VulnPackage.__table__  # type: ignore[assignment]
_IMPORTS: Table = VulnDbImport.__table__  # type: ignore[assignment]


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def existing_ids(session: AsyncSession, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        rows = await session.execute(select(_RECORDS.c.id).where(_RECORDS.c.id.in_(chunk)))
        found.update(row[0] for row in rows)
    return found


async def replace_records(
    session: AsyncSession, records: Sequence[dict[str, Any]], packages: Sequence[dict[str, Any]]
) -> None:
    """Delete the records with these ids (and their package rows), then insert them anew."""
    ids = [record["id"] for record in records]
    for chunk in _chunks(ids):
        await session.execute(delete(_PACKAGES).where(_PACKAGES.c.record_id.in_(chunk)))
        await session.execute(delete(_RECORDS).where(_RECORDS.c.id.in_(chunk)))
    for chunk in _chunks(records):
        await session.execute(insert(_RECORDS), list(chunk))
    for chunk in _chunks(packages):
        await session.execute(insert(_PACKAGES), list(chunk))


async def add_import(session: AsyncSession, **values: Any) -> int:
    result = await session.execute(insert(_IMPORTS).values(**values).returning(_IMPORTS.c.id))
    return int(result.scalar_one())


async def latest_import(session: AsyncSession) -> tuple[int, datetime] | None:
    row = (
        await session.execute(
            select(_IMPORTS.c.id, _IMPORTS.c.imported_at).order_by(_IMPORTS.c.id.desc()).limit(1)
        )
    ).first()
    return None if row is None else (int(row[0]), row[1])


async def counts_by_ecosystem(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(_PACKAGES.c.ecosystem, func.count(func.distinct(_PACKAGES.c.record_id)))
        .group_by(_PACKAGES.c.ecosystem)
        .order_by(_PACKAGES.c.ecosystem)
    )
    return [(str(ecosystem), int(count)) for ecosystem, count in rows]


async def record_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(_RECORDS)) or 0)


async def records_naming(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> list[tuple[str, dict[str, Any], str, float | None, list[str], str]]:
    """(id, document, severity, score, aliases, summary) of each record naming one of the
    (ecosystem, name) pairs, each record once."""
    ids: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        rows = await session.execute(
            select(_PACKAGES.c.record_id).where(
                tuple_(_PACKAGES.c.ecosystem, _PACKAGES.c.name).in_(chunk)
            )
        )
        ids.update(row[0] for row in rows)
    found: list[tuple[str, dict[str, Any], str, float | None, list[str], str]] = []
    for chunk in _chunks(sorted(ids)):
        rows = await session.execute(
            select(
                _RECORDS.c.id,
                _RECORDS.c.document,
                _RECORDS.c.severity,
                _RECORDS.c.score,
                _RECORDS.c.aliases,
                _RECORDS.c.summary,
            )
            .where(_RECORDS.c.id.in_(chunk))
            .order_by(_RECORDS.c.id)
        )
        found.extend((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)
    return found
