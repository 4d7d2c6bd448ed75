"""Aggregates read at scrape time for ``/metrics``: whole-table counts and queue ages.

Every query is one indexed range or a plain count: a scrape every 15 seconds must cost
the database next to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import Blob, Job, Manifest, OutboxEvent, PullLease


@dataclass(frozen=True, slots=True)
class JobKindRow:
    """Jobs of one kind in one state, and when the oldest of them was queued."""

    kind: str
    state: str
    count: int
    oldest: datetime | None


async def count_blobs(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Blob))).scalar_one())


async def count_manifests(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Manifest))).scalar_one())


async def job_kinds(session: AsyncSession) -> list[JobKindRow]:
    """Per kind and state: how many jobs, and the oldest one's creation time."""
    stmt = select(Job.kind, Job.state, func.count(), func.min(Job.created_at)).group_by(
        Job.kind, Job.state
    )
    return [
        JobKindRow(kind, state, int(count), oldest)
        for kind, state, count, oldest in (await session.execute(stmt)).all()
    ]


async def oldest_unpublished_event(session: AsyncSession) -> datetime | None:
    """Creation time of the oldest outbox event nobody has published yet."""
    stmt = select(func.min(OutboxEvent.created_at)).where(OutboxEvent.published_at.is_(None))
    value: datetime | None = (await session.execute(stmt)).scalar_one()
    return value


async def pulling_clients_by_instance(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Instance id → distinct addresses holding a live pull lease (slots in use)."""
    stmt = (
        select(PullLease.instance_id, func.count(distinct(PullLease.address)))
        .where(PullLease.expires_at > now)
        .group_by(PullLease.instance_id)
    )
    return {instance: int(count) for instance, count in (await session.execute(stmt)).all()}
