"""Image scan rows: queue, mark, finish and read them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import ImageScan

_SCANS: Table = ImageScan.__table__  # type: ignore[assignment]


def _key(repository_id: uuid.UUID, digest: str) -> Any:
    return (_SCANS.c.repository_id == repository_id) & (_SCANS.c.digest == digest)


async def queue_scan(
    session: AsyncSession, repository_id: uuid.UUID, digest: str, **values: Any
) -> None:
    """(Re)start the scan of a digest from ``queued``, forgetting an earlier result."""
    await session.execute(delete(_SCANS).where(_key(repository_id, digest)))
    await session.execute(
        insert(_SCANS).values(
            repository_id=repository_id,
            digest=digest,
            packages=[],
            vulnerabilities=[],
            **values,
        )
    )


async def set_scan(
    session: AsyncSession, repository_id: uuid.UUID, digest: str, **values: Any
) -> bool:
    result = await session.execute(
        update(_SCANS).where(_key(repository_id, digest)).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def find_scan(
    session: AsyncSession, repository_id: uuid.UUID, digest: str
) -> ImageScan | None:
    found: ImageScan | None = await session.scalar(
        select(ImageScan).where(
            ImageScan.repository_id == repository_id, ImageScan.digest == digest
        )
    )
    return found
