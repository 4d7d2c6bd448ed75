"""Retention policies, their runs, the repositories a policy reaches, and due schedules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import Instance, Repository, RetentionPolicy, RetentionRun
from dockyard.metadata.queries._page import counted_page


async def list_policies(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[Sequence[RetentionPolicy], int]:
    conditions = [RetentionPolicy.instance_id == instance_id]
    return await counted_page(
        session, RetentionPolicy, conditions, (RetentionPolicy.name,), offset, limit
    )


async def find_policy(session: AsyncSession, instance_id: str, name: str) -> RetentionPolicy | None:
    stmt = select(RetentionPolicy).where(
        RetentionPolicy.instance_id == instance_id, RetentionPolicy.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_policy(session: AsyncSession, policy_id: uuid.UUID) -> None:
    await session.execute(delete(RetentionRun).where(RetentionRun.policy_id == policy_id))
    await session.execute(delete(RetentionPolicy).where(RetentionPolicy.id == policy_id))


async def claim_due_policies(session: AsyncSession, now: datetime) -> list[RetentionPolicy]:
    """Lock the policies whose scheduled run is due and that no concurrent transaction
    holds; the caller moves each one's ``next_run_at`` on before committing, so one node
    runs each due time."""
    stmt = (
        select(RetentionPolicy)
        .where(RetentionPolicy.next_run_at <= now)
        .order_by(RetentionPolicy.next_run_at, RetentionPolicy.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars().all())


async def repositories_in_scope(
    session: AsyncSession, instance_id: str, namespace: str | None, full_names: Sequence[str]
) -> list[tuple[uuid.UUID, str, str, str, str]]:
    """(id, full name, type, tag mutability, edition) of the repositories a policy reaches
    now, in full-name order: every one of ``namespace``, else those of ``full_names`` that
    exist."""
    stmt = (
        select(
            Repository.id,
            Repository.full_name,
            Repository.type,
            Repository.tag_mutability,
            Instance.edition,
        )
        .join(Instance, Instance.id == Repository.instance_id)
        .where(Repository.instance_id == instance_id)
        .order_by(Repository.full_name)
    )
    if namespace is not None:
        stmt = stmt.where(Repository.full_name.startswith(f"{namespace}/", autoescape=True))
    else:
        stmt = stmt.where(Repository.full_name.in_(list(full_names)))
    return [(r[0], r[1], r[2], r[3], r[4]) for r in await session.execute(stmt)]


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> RetentionPolicy | None:
    return await session.get(RetentionPolicy, policy_id)


async def run_exists(session: AsyncSession, run_id: uuid.UUID) -> bool:
    stmt = select(RetentionRun.id).where(RetentionRun.id == run_id)
    return (await session.execute(stmt)).first() is not None


async def prune_runs(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` runs that finished before ``before``; how many went."""
    doomed = select(RetentionRun.id).where(RetentionRun.finished_at < before).limit(limit)
    ids = list((await session.execute(doomed)).scalars().all())
    if ids:
        await session.execute(delete(RetentionRun).where(RetentionRun.id.in_(ids)))
    return len(ids)


def add_run(session: AsyncSession, run: RetentionRun) -> None:
    session.add(run)


async def list_runs(
    session: AsyncSession, policy_id: uuid.UUID, offset: int, limit: int
) -> tuple[Sequence[RetentionRun], int]:
    """A page of the policy's runs, newest first, and how many there are."""
    order = (RetentionRun.started_at.desc(), RetentionRun.id.desc())
    conditions = [RetentionRun.policy_id == policy_id]
    return await counted_page(session, RetentionRun, conditions, order, offset, limit)
