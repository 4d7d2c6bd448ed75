"""Instances, namespaces and repositories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import Account, Instance, InstanceEndpoint, Namespace, Repository
from dockyard.metadata.queries._insert import insert_ignore


async def find_account(session: AsyncSession) -> Account | None:
    return (await session.execute(select(Account).limit(1))).scalar_one_or_none()


async def find_instance(session: AsyncSession, instance_id: str) -> Instance | None:
    return await session.get(Instance, instance_id)


async def find_instance_by_domain(session: AsyncSession, domain: str) -> Instance | None:
    stmt = (
        select(Instance)
        .join(InstanceEndpoint, InstanceEndpoint.instance_id == Instance.id)
        .where(InstanceEndpoint.domain == domain, InstanceEndpoint.enabled.is_(True))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_namespace(session: AsyncSession, instance_id: str, name: str) -> Namespace | None:
    stmt = select(Namespace).where(Namespace.instance_id == instance_id, Namespace.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_repository(
    session: AsyncSession, instance_id: str, full_name: str
) -> Repository | None:
    stmt = select(Repository).where(
        Repository.instance_id == instance_id, Repository.full_name == full_name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_namespace_if_absent(
    session: AsyncSession, instance_id: str, name: str
) -> Namespace:
    await insert_ignore(session, Namespace, instance_id=instance_id, name=name)
    found = await find_namespace(session, instance_id, name)
    assert found is not None  # inserted or already there, in this transaction
    return found


async def insert_repository_if_absent(
    session: AsyncSession, namespace: Namespace, name: str, public_id: str
) -> tuple[Repository, bool]:
    created = await insert_ignore(
        session,
        Repository,
        public_id=public_id,
        instance_id=namespace.instance_id,
        namespace_id=namespace.id,
        name=name,
        full_name=f"{namespace.name}/{name}",
        type=namespace.default_repository_type,
    )
    found = await find_repository(session, namespace.instance_id, f"{namespace.name}/{name}")
    assert found is not None
    return found, created


async def list_repository_names(
    session: AsyncSession, instance_id: str, last: str | None, limit: int
) -> Sequence[str]:
    stmt = select(Repository.full_name).where(Repository.instance_id == instance_id)
    if last:
        stmt = stmt.where(Repository.full_name > last)
    stmt = stmt.order_by(Repository.full_name).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def repository_by_id(session: AsyncSession, repository_id: uuid.UUID) -> Repository | None:
    return await session.get(Repository, repository_id)
