"""Instances, namespaces and repositories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.base import utcnow
from dockyard.metadata.models import (
    Account,
    EndpointAclEntry,
    Instance,
    InstanceEndpoint,
    Namespace,
    OutboxEvent,
    PullLease,
    Repository,
)
from dockyard.metadata.queries._insert import insert_ignore
from dockyard.metadata.queries._page import counted_page
from dockyard.metadata.queries._rows import RowQuery
from dockyard.metadata.queries.usage import release_repository
from dockyard.metadata.session import Database


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


_repositories = Repository.__table__

_instances = Instance.__table__

#: What a registry request needs of its repository, as plain Core columns: its id, type,
#: tag mutability and its instance's edition (a primary-key lookup in the same statement,
#: so a push knows which features the instance has without another round trip).
REPOSITORY_KEY = (
    _repositories.c.id,
    _repositories.c.type,
    _repositories.c.tag_mutability,
    select(_instances.c.edition)
    .where(_instances.c.id == bindparam("instance_id"))
    .scalar_subquery()
    .label("edition"),
)
#: The repository by name: the unique (instance_id, full_name) index.
REPOSITORY_KEY_WHERE = (
    _repositories.c.instance_id == bindparam("instance_id"),
    _repositories.c.full_name == bindparam("full_name"),
)
_REPOSITORY_KEY_BY_NAME = select(*REPOSITORY_KEY).where(*REPOSITORY_KEY_WHERE)


_Q_REPOSITORY_KEY_BY_NAME = RowQuery(_REPOSITORY_KEY_BY_NAME)


async def repository_key(
    db: Database, instance_id: str, full_name: str
) -> tuple[uuid.UUID, str, str, str] | None:
    """(id, type, tag mutability, instance edition) of the repository: one Core statement,
    no ORM object."""
    row = await _Q_REPOSITORY_KEY_BY_NAME.first(
        db, {"instance_id": instance_id, "full_name": full_name}
    )
    return None if row is None else (row[0], row[1], row[2], row[3])


async def _names_with(
    session: AsyncSession, instance_id: Any, name: Any, fragment: str
) -> list[tuple[str, str]]:
    """(instance id, name) of every row whose ``name`` column contains ``fragment``
    literally, in instance and name order."""
    stmt = (
        select(instance_id, name)
        .where(name.contains(fragment, autoescape=True))
        .order_by(instance_id, name)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def namespace_names_with(session: AsyncSession, fragment: str) -> list[tuple[str, str]]:
    """(instance id, name) of every namespace whose name contains ``fragment`` literally."""
    return await _names_with(session, Namespace.instance_id, Namespace.name, fragment)


async def repository_names_with(session: AsyncSession, fragment: str) -> list[tuple[str, str]]:
    """(instance id, full name) of every repository whose full name contains ``fragment``."""
    return await _names_with(session, Repository.instance_id, Repository.full_name, fragment)


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


_Q_CATALOG_PAGE = RowQuery(
    select(_repositories.c.full_name)
    .where(
        _repositories.c.instance_id == bindparam("instance_id"),
        _repositories.c.full_name > bindparam("last"),
    )
    .order_by(_repositories.c.full_name)
    .limit(bindparam("limit"))
)


async def repository_names_page(
    db: Database, instance_id: str, last: str | None, limit: int
) -> list[str]:
    """A catalog page in full-name order: one statement on the (instance, full name) index."""
    params = {"instance_id": instance_id, "last": last or "", "limit": limit}
    return [row[0] for row in await _Q_CATALOG_PAGE.all(db, params)]


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


# ---- management: instances ---------------------------------------------------------------


async def lock_instance(session: AsyncSession, instance_id: str) -> Instance | None:
    """The instance row, locked until the transaction ends.

    Edition limits are "count, then insert" under this lock: ``SELECT … FOR UPDATE`` on
    PostgreSQL; SQLite write transactions (``BEGIN IMMEDIATE``) are exclusive already.
    """
    stmt = select(Instance).where(Instance.id == instance_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_instances(
    session: AsyncSession, offset: int, limit: int
) -> tuple[Sequence[Instance], int]:
    total = (await session.execute(select(func.count()).select_from(Instance))).scalar_one()
    stmt = select(Instance).order_by(Instance.created_at, Instance.id).offset(offset).limit(limit)
    return (await session.execute(stmt)).scalars().all(), total


def add_instance(session: AsyncSession, instance: Instance) -> None:
    session.add(instance)


async def endpoints_of(
    session: AsyncSession, instance_ids: Sequence[str]
) -> dict[str, list[tuple[InstanceEndpoint, list[EndpointAclEntry]]]]:
    """Each instance's endpoints (by network type) with their allowlists."""
    if not instance_ids:
        return {}
    endpoints = (
        (
            await session.execute(
                select(InstanceEndpoint)
                .where(InstanceEndpoint.instance_id.in_(set(instance_ids)))
                .order_by(InstanceEndpoint.network_type)
            )
        )
        .scalars()
        .all()
    )
    entries: dict[uuid.UUID, list[EndpointAclEntry]] = {}
    if endpoints:
        rows = (
            (
                await session.execute(
                    select(EndpointAclEntry)
                    .where(EndpointAclEntry.endpoint_id.in_([e.id for e in endpoints]))
                    .order_by(EndpointAclEntry.cidr)
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            entries.setdefault(row.endpoint_id, []).append(row)
    out: dict[str, list[tuple[InstanceEndpoint, list[EndpointAclEntry]]]] = {}
    for endpoint in endpoints:
        out.setdefault(endpoint.instance_id, []).append((endpoint, entries.get(endpoint.id, [])))
    return out


async def find_endpoint_by_domain(session: AsyncSession, domain: str) -> InstanceEndpoint | None:
    stmt = select(InstanceEndpoint).where(InstanceEndpoint.domain == domain)
    return (await session.execute(stmt)).scalar_one_or_none()


async def replace_endpoints(
    session: AsyncSession,
    instance_id: str,
    endpoints: Sequence[tuple[str, str, bool, Sequence[tuple[str, str]]]],
) -> None:
    """Make (network type, domain, enabled, [(cidr, description)]) the instance's endpoints."""
    old = select(InstanceEndpoint.id).where(InstanceEndpoint.instance_id == instance_id)
    await session.execute(delete(EndpointAclEntry).where(EndpointAclEntry.endpoint_id.in_(old)))
    await session.execute(
        delete(InstanceEndpoint).where(InstanceEndpoint.instance_id == instance_id)
    )
    await session.flush()
    for network_type, domain, enabled, allowlist in endpoints:
        endpoint = InstanceEndpoint(
            instance_id=instance_id, network_type=network_type, domain=domain, enabled=enabled
        )
        session.add(endpoint)
        await session.flush()
        session.add_all(
            EndpointAclEntry(endpoint_id=endpoint.id, cidr=cidr, description=description)
            for cidr, description in allowlist
        )
    await session.flush()


async def update_instance(session: AsyncSession, instance: Instance, **values: Any) -> None:
    for key, value in values.items():
        setattr(instance, key, value)
    instance.updated_at = utcnow()
    await session.flush()


# ---- management: namespaces and repositories ---------------------------------------------


async def count_namespaces(session: AsyncSession, instance_id: str) -> int:
    stmt = select(func.count()).select_from(Namespace).where(Namespace.instance_id == instance_id)
    return (await session.execute(stmt)).scalar_one()


async def count_repositories(
    session: AsyncSession, instance_id: str, namespace_id: uuid.UUID | None = None
) -> int:
    """The instance's repositories, or its namespace's (that namespace's index alone: with
    the instance's condition too, SQLite counted through the instance's index)."""
    where = (
        Repository.instance_id == instance_id
        if namespace_id is None
        else Repository.namespace_id == namespace_id
    )
    return (
        await session.execute(select(func.count()).select_from(Repository).where(where))
    ).scalar_one()


async def largest_namespace_size(session: AsyncSession, instance_id: str) -> int:
    """Repositories in the instance's fullest namespace (0 when it has none)."""
    counts = (
        select(func.count().label("n"))
        .select_from(Repository)
        .where(Repository.instance_id == instance_id)
        .group_by(Repository.namespace_id)
        .subquery()
    )
    largest = (await session.execute(select(func.max(counts.c.n)))).scalar_one_or_none()
    return int(largest or 0)


async def count_immutable_repositories(session: AsyncSession, instance_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(Repository)
        .where(Repository.instance_id == instance_id, Repository.tag_mutability == "Immutable")
    )
    return (await session.execute(stmt)).scalar_one()


async def list_namespaces(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[Sequence[Namespace], int]:
    where = Namespace.instance_id == instance_id
    total = (
        await session.execute(select(func.count()).select_from(Namespace).where(where))
    ).scalar_one()
    stmt = select(Namespace).where(where).order_by(Namespace.name).offset(offset).limit(limit)
    return (await session.execute(stmt)).scalars().all(), total


async def repository_counts(
    session: AsyncSession, namespace_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not namespace_ids:
        return {}
    stmt = (
        select(Repository.namespace_id, func.count())
        .where(Repository.namespace_id.in_(set(namespace_ids)))
        .group_by(Repository.namespace_id)
    )
    return {ns: n for ns, n in (await session.execute(stmt)).all()}


def add_namespace(session: AsyncSession, namespace: Namespace) -> None:
    session.add(namespace)


async def update_row(session: AsyncSession, row: Namespace | Repository, **values: Any) -> None:
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await session.flush()


async def delete_namespace(session: AsyncSession, namespace_id: uuid.UUID) -> list[str]:
    """Delete the namespace and every repository in it; returns the repositories' names."""
    names = (
        (
            await session.execute(
                select(Repository.full_name).where(Repository.namespace_id == namespace_id)
            )
        )
        .scalars()
        .all()
    )
    # Tags, manifests, uploads and blob links go with their repository (ON DELETE CASCADE).
    await session.execute(delete(Repository).where(Repository.namespace_id == namespace_id))
    await session.execute(delete(Namespace).where(Namespace.id == namespace_id))
    return list(names)


async def delete_instance(session: AsyncSession, instance_id: str) -> int:
    """Delete the instance and everything that hangs on it; returns how many repositories went.

    Tags, manifests, uploads and blob links go with their repository (ON DELETE CASCADE);
    the blobs themselves stay for garbage collection. The caller holds the instance's lock.
    """
    repositories = await count_repositories(session, instance_id)
    await session.execute(delete(Repository).where(Repository.instance_id == instance_id))
    await session.execute(delete(Namespace).where(Namespace.instance_id == instance_id))
    await session.execute(delete(PullLease).where(PullLease.instance_id == instance_id))
    await session.execute(delete(OutboxEvent).where(OutboxEvent.instance_id == instance_id))
    await replace_endpoints(session, instance_id, [])
    await session.execute(delete(Instance).where(Instance.id == instance_id))
    return repositories


async def delete_repository(session: AsyncSession, repository_id: uuid.UUID) -> None:
    """Lock the repository first (PostgreSQL: a push inserting into it holds a key-share
    lock, so this waits for pushes in flight and holds off new ones), then uncount its
    manifests from usage, then delete it with everything in it."""
    lock = select(Repository.id).where(Repository.id == repository_id).with_for_update()
    await session.execute(lock)
    await release_repository(session, repository_id)
    await session.execute(delete(Repository).where(Repository.id == repository_id))


async def list_repositories(
    session: AsyncSession,
    instance_id: str,
    namespace_id: uuid.UUID | None,
    name_contains: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Repository], int]:
    # Within a namespace (found in the instance by the caller), name order is full-name
    # order and (namespace_id, name) is an index: the page and its count are a range of
    # it. With the instance's condition too, the planners walked the instance's index from
    # its first repository (a namespace in the middle of 100,000: 5x the CPU).
    conditions = [Repository.instance_id == instance_id]
    order = (Repository.full_name,)
    if namespace_id is not None:
        conditions, order = [Repository.namespace_id == namespace_id], (Repository.name,)
    if name_contains:
        escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Repository.full_name.like(f"%{escaped}%", escape="\\"))
    return await counted_page(session, Repository, conditions, order, offset, limit)


def add_repository(session: AsyncSession, repository: Repository) -> None:
    session.add(repository)


# ---- bulk seeding (services/content/bulk.py) -----------------------------------------------


async def insert_namespaces(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One batched INSERT of namespace rows (every column given)."""
    if rows:
        await session.execute(insert(cast(Table, Namespace.__table__)), list(rows))


async def insert_repositories(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One batched INSERT of repository rows (every column given)."""
    if rows:
        await session.execute(insert(cast(Table, _repositories)), list(rows))


async def namespace_ids(
    session: AsyncSession, instance_id: str, names: Sequence[str]
) -> dict[str, uuid.UUID]:
    stmt = select(Namespace.__table__.c.name, Namespace.__table__.c.id).where(
        Namespace.__table__.c.instance_id == instance_id,
        Namespace.__table__.c.name.in_(set(names)),
    )
    return {name: id_ for name, id_ in (await session.execute(stmt)).all()}
