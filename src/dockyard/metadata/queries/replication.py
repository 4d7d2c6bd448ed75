"""Replication remotes, tasks and their layer rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import (
    Manifest,
    ManifestReference,
    ReplicationRemote,
    ReplicationRule,
    ReplicationTask,
    ReplicationTaskLayer,
    Repository,
    Tag,
)
from dockyard.metadata.queries._page import counted_page


async def find_remote(
    session: AsyncSession, instance_id: str, name: str
) -> ReplicationRemote | None:
    stmt = select(ReplicationRemote).where(
        ReplicationRemote.instance_id == instance_id, ReplicationRemote.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_remotes(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[Sequence[ReplicationRemote], int]:
    conditions = [ReplicationRemote.instance_id == instance_id]
    return await counted_page(
        session, ReplicationRemote, conditions, (ReplicationRemote.name,), offset, limit
    )


async def delete_remote(session: AsyncSession, remote_id: uuid.UUID) -> None:
    await session.execute(delete(ReplicationRemote).where(ReplicationRemote.id == remote_id))


async def list_tasks(
    session: AsyncSession,
    instance_id: str,
    offset: int,
    limit: int,
    *,
    status: str | None = None,
    repository: str | None = None,
    tag: str | None = None,
) -> tuple[Sequence[ReplicationTask], int]:
    conditions = [ReplicationTask.instance_id == instance_id]
    if status is not None:
        conditions.append(ReplicationTask.status == status)
    if repository is not None:
        conditions.append(ReplicationTask.source_repository == repository)
    if tag is not None:
        conditions.append(ReplicationTask.source_tag == tag)
    order = (ReplicationTask.created_at.desc(), ReplicationTask.id)
    return await counted_page(session, ReplicationTask, conditions, order, offset, limit)


async def find_task(
    session: AsyncSession, task_id: uuid.UUID, *, for_update: bool = False
) -> ReplicationTask | None:
    stmt = select(ReplicationTask).where(ReplicationTask.id == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def task_layers(session: AsyncSession, task_id: uuid.UUID) -> Sequence[ReplicationTaskLayer]:
    stmt = (
        select(ReplicationTaskLayer)
        .where(ReplicationTaskLayer.task_id == task_id)
        .order_by(ReplicationTaskLayer.digest)
    )
    return (await session.execute(stmt)).scalars().all()


async def record_layer(
    session: AsyncSession,
    task_id: uuid.UUID,
    digest: str,
    size: int,
    status: str,
    reason: str | None,
) -> None:
    """Insert or replace the layer's row (a resumed task records a layer again)."""
    row = await session.get(ReplicationTaskLayer, (task_id, digest))
    if row is None:
        session.add(
            ReplicationTaskLayer(
                task_id=task_id, digest=digest, size=size, status=status, reason=reason
            )
        )
    else:
        row.size, row.status, row.reason = size, status, reason


async def clear_layers(session: AsyncSession, task_id: uuid.UUID) -> None:
    await session.execute(
        delete(ReplicationTaskLayer).where(ReplicationTaskLayer.task_id == task_id)
    )


async def find_rule(session: AsyncSession, instance_id: str, name: str) -> ReplicationRule | None:
    stmt = select(ReplicationRule).where(
        ReplicationRule.instance_id == instance_id, ReplicationRule.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_rules(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[Sequence[ReplicationRule], int]:
    conditions = [ReplicationRule.instance_id == instance_id]
    return await counted_page(
        session, ReplicationRule, conditions, (ReplicationRule.name,), offset, limit
    )


async def delete_rule(session: AsyncSession, rule_id: uuid.UUID) -> None:
    await session.execute(delete(ReplicationRule).where(ReplicationRule.id == rule_id))


async def enabled_rules(
    session: AsyncSession, instance_ids: Sequence[str]
) -> Sequence[ReplicationRule]:
    stmt = select(ReplicationRule).where(
        ReplicationRule.instance_id.in_(instance_ids), ReplicationRule.enabled.is_(True)
    )
    return (await session.execute(stmt)).scalars().all()


async def has_rule_task(session: AsyncSession, event_id: uuid.UUID, rule: str) -> bool:
    stmt = select(ReplicationTask.id).where(
        ReplicationTask.event_id == event_id, ReplicationTask.rule == rule
    )
    return (await session.execute(stmt)).first() is not None


async def repositories_holding(
    session: AsyncSession,
    instance_id: str,
    destination: str,
    digest: str,
    statuses: Sequence[str],
    limit: int = 3,
) -> list[str]:
    """Repositories at ``destination`` where earlier tasks of the instance left the blob
    (its layer row in one of ``statuses``): where a cross-repository mount may find it."""
    stmt = (
        select(ReplicationTask.destination_repository)
        .join(ReplicationTaskLayer, ReplicationTaskLayer.task_id == ReplicationTask.id)
        .where(
            ReplicationTask.instance_id == instance_id,
            ReplicationTask.destination == destination,
            ReplicationTaskLayer.digest == digest,
            ReplicationTaskLayer.status.in_(statuses),
        )
        .distinct()
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def subject_tags(
    session: AsyncSession, instance_id: str, full_name: str, digest: str
) -> list[str]:
    """The tags that carry the manifest the manifest ``digest`` of the repository names as
    its subject: the subject's own tags, and those of the indexes naming the subject as a
    child (a signature of one platform's image). None when it names no subject, or no
    tag carries it."""
    repository = (
        select(Repository.id)
        .where(Repository.instance_id == instance_id, Repository.full_name == full_name)
        .scalar_subquery()
    )
    subject = (
        select(Manifest.subject_digest)
        .where(Manifest.repository_id == repository, Manifest.digest == digest)
        .scalar_subquery()
    )
    parents = (
        select(ManifestReference.manifest_id)
        .join(Manifest, Manifest.id == ManifestReference.manifest_id)
        .where(
            Manifest.repository_id == repository,
            ManifestReference.kind == "manifest",
            ManifestReference.digest == subject,
        )
    )
    carriers = select(Manifest.id).where(
        Manifest.repository_id == repository, Manifest.digest == subject
    )
    stmt = (
        select(Tag.name)
        .where(
            Tag.repository_id == repository,
            or_(Tag.manifest_id.in_(carriers), Tag.manifest_id.in_(parents)),
        )
        .distinct()
        .order_by(Tag.name)
    )
    return list((await session.execute(stmt)).scalars().all())
