"""External scanner registrations: save, list, find, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import ExternalScanner


async def save_scanner(session: AsyncSession, name: str, **values: Any) -> None:
    """Register ``name``, replacing an earlier registration of it."""
    await session.execute(delete(ExternalScanner).where(ExternalScanner.name == name))
    await session.execute(insert(ExternalScanner).values(name=name, **values))


async def list_scanners(session: AsyncSession) -> list[ExternalScanner]:
    rows = await session.execute(select(ExternalScanner).order_by(ExternalScanner.name))
    return list(rows.scalars())


async def delete_scanner(session: AsyncSession, name: str) -> bool:
    result = await session.execute(delete(ExternalScanner).where(ExternalScanner.name == name))
    return bool(result.rowcount)  # type: ignore[attr-defined]
