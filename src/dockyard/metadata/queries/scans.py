"""Image scan rows: queue, mark, finish and read them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import ImageScan, Namespace, ScanPolicy
from dockyard.metadata.queries._page import counted_page

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


_POLICIES: Table = ScanPolicy.__table__  # type: ignore[assignment]
_NAMESPACES: Table = Namespace.__table__  # type: ignore[assignment]
_POLICY_OF_NAMESPACE = (
    select(
        _POLICIES.c.scan_on_push,
        _POLICIES.c.block_severity,
        _POLICIES.c.block_unscanned,
        _POLICIES.c.allowlist,
    )
    .select_from(_NAMESPACES.join(_POLICIES, _POLICIES.c.namespace_id == _NAMESPACES.c.id))
    .where(
        _NAMESPACES.c.instance_id == bindparam("instance_id"),
        _NAMESPACES.c.name == bindparam("name"),
    )
)


async def policy_of(
    session: AsyncSession, instance_id: str, namespace: str
) -> tuple[bool, str | None, bool, list[dict[str, Any]]] | None:
    """(scan on push, block severity, block unscanned, allowlist) of a namespace: one
    statement (the pull path)."""
    params = {"instance_id": instance_id, "name": namespace}
    row = (await session.execute(_POLICY_OF_NAMESPACE, params)).first()
    if row is None:
        return None
    return bool(row[0]), row[1], bool(row[2]), list(row[3] or [])


async def save_policy(session: AsyncSession, namespace_id: uuid.UUID, **values: Any) -> None:
    await session.execute(delete(_POLICIES).where(_POLICIES.c.namespace_id == namespace_id))
    await session.execute(insert(_POLICIES).values(namespace_id=namespace_id, **values))


async def scan_findings(
    session: AsyncSession, repository_id: uuid.UUID, digest: str
) -> tuple[str, list[dict[str, Any]]] | None:
    """(state, vulnerabilities) of a digest's scan, for the pull gate."""
    params = {"repository_id": repository_id, "digest": digest}
    row = (await session.execute(_SCAN_FINDINGS, params)).first()
    return None if row is None else (str(row[0]), list(row[1] or []))


_SCAN_FINDINGS = select(_SCANS.c.state, _SCANS.c.vulnerabilities).where(
    _SCANS.c.repository_id == bindparam("repository_id"),
    _SCANS.c.digest == bindparam("digest"),
)


async def done_scans_after(
    session: AsyncSession, after: tuple[uuid.UUID, str] | None, limit: int
) -> list[tuple[uuid.UUID, str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(repository id, digest, packages, vulnerabilities) of done scans, in key order
    after ``after``."""
    stmt = select(
        _SCANS.c.repository_id, _SCANS.c.digest, _SCANS.c.packages, _SCANS.c.vulnerabilities
    ).where(_SCANS.c.state == "done")
    if after is not None:
        stmt = stmt.where(tuple_(_SCANS.c.repository_id, _SCANS.c.digest) > tuple_(*after))
    rows = await session.execute(
        stmt.order_by(_SCANS.c.repository_id, _SCANS.c.digest).limit(limit)
    )
    return [(row[0], str(row[1]), list(row[2] or []), list(row[3] or [])) for row in rows]


async def set_done_scan(
    session: AsyncSession, repository_id: uuid.UUID, digest: str, **values: Any
) -> None:
    """Change a scan only while it is done (a scan queued again meanwhile wins)."""
    await session.execute(
        update(_SCANS)
        .where(_key(repository_id, digest) & (_SCANS.c.state == "done"))
        .values(**values)
    )


async def scans_of_repository(
    session: AsyncSession, repository_id: uuid.UUID, offset: int, limit: int
) -> tuple[list[ImageScan], int]:
    """A page of a repository's scans, most recently queued first."""
    rows, total = await counted_page(
        session,
        ImageScan,
        [ImageScan.repository_id == repository_id],
        [ImageScan.queued_at.desc(), ImageScan.digest],
        offset,
        limit,
    )
    return list(rows), total
