"""Users, organizations, groups, roles, policies, resource sets, logon policies, the
principal queries, and token signing keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, String, Uuid, delete, func, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.base import Base, utcnow
from dockyard.metadata.models import (
    Account,
    GroupMember,
    GroupRole,
    Instance,
    LogonPolicy,
    Namespace,
    Organization,
    Policy,
    Repository,
    ResourceSet,
    ResourceSetGroup,
    Role,
    RolePolicy,
    SigningKey,
    User,
    UserGroup,
    UserRole,
)
from dockyard.metadata.queries._insert import insert_ignore


async def find_user(session: AsyncSession, account_id: uuid.UUID, username: str) -> User | None:
    stmt = select(User).where(User.account_id == account_id, User.username == username)
    return (await session.execute(stmt)).scalar_one_or_none()


async def policies_of_user(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[str, dict[str, Any]]]:
    """(name, document) of every policy reaching the user through a role, each once."""
    # Not SELECT DISTINCT: PostgreSQL has no equality for json columns. Policy ids are.
    reaching = (
        select(RolePolicy.policy_id)
        .join(UserRole, UserRole.role_id == RolePolicy.role_id)
        .where(UserRole.user_id == user_id)
    )
    stmt = (
        select(Policy.name, Policy.document)
        .where(Policy.id.in_(reaching))
        .order_by(Policy.name, Policy.id)
    )
    return [(name, doc) for name, doc in (await session.execute(stmt)).all()]


async def active_signing_keys(session: AsyncSession) -> Sequence[SigningKey]:
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at)
    return (await session.execute(stmt)).scalars().all()


async def ensure_root_organization(
    session: AsyncSession, account_id: uuid.UUID, name: str
) -> Organization:
    """The root of the organization tree; users made before it existed move into it."""
    stmt = select(Organization).where(
        Organization.account_id == account_id, Organization.parent_id.is_(None)
    )
    root = (await session.execute(stmt)).scalars().first()
    if root is None:
        root = Organization(account_id=account_id, name=name, description="The whole account")
        session.add(root)
        await session.flush()
    await session.execute(
        update(User)
        .where(User.account_id == account_id, User.organization_id.is_(None))
        .values(organization_id=root.id)
    )
    return root


# ---- principals (services.access.load_principal) -------------------------------------------


async def policies_reaching_user(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[uuid.UUID | None, uuid.UUID, str, dict[str, Any]]]:
    """(group id or None for direct roles, policy id, name, document) of every policy
    reaching the user through a role, in one statement; a policy may appear once per path."""
    direct = (
        select(literal(None, type_=Uuid).label("group_id"), RolePolicy.policy_id)
        .join(UserRole, UserRole.role_id == RolePolicy.role_id)
        .where(UserRole.user_id == user_id)
    )
    via_groups = (
        select(GroupMember.group_id.label("group_id"), RolePolicy.policy_id)
        .join(GroupRole, GroupRole.group_id == GroupMember.group_id)
        .join(RolePolicy, RolePolicy.role_id == GroupRole.role_id)
        .where(GroupMember.user_id == user_id)
    )
    paths = union_all(direct, via_groups).subquery()
    stmt = (
        select(paths.c.group_id, Policy.id, Policy.name, Policy.document)
        .join(Policy, Policy.id == paths.c.policy_id)
        .order_by(Policy.name, Policy.id)
    )
    return [(g, pid, name, doc) for g, pid, name, doc in (await session.execute(stmt)).all()]


async def resource_set_scopes_of_user(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[uuid.UUID, str | None, str | None, str | None, str | None]]:
    """For every group of the user linked to at least one resource set, one row per resource
    of its sets: (group id, instance id, region, edition, namespace or ``ns/repo``), plus one
    row (group id, None, None, None, None) so that a group linked to empty sets is known."""
    linked = (
        select(ResourceSetGroup.group_id, ResourceSetGroup.resource_set_id)
        .join(GroupMember, GroupMember.group_id == ResourceSetGroup.group_id)
        .where(GroupMember.user_id == user_id)
        .subquery()
    )
    marker = select(
        linked.c.group_id,
        literal(None, type_=String).label("instance_id"),
        literal(None, type_=String).label("region"),
        literal(None, type_=String).label("edition"),
        literal(None, type_=String).label("name"),
    )

    def members(table: type[Namespace | Repository], name: Any) -> Select[Any]:
        """The namespaces or repositories in the linked sets, with their instance's region
        and edition."""
        return (
            select(linked.c.group_id, table.instance_id, Instance.region, Instance.edition, name)
            .join(table, table.resource_set_id == linked.c.resource_set_id)
            .join(Instance, Instance.id == table.instance_id)
        )

    stmt = union_all(
        marker, members(Namespace, Namespace.name), members(Repository, Repository.full_name)
    )
    return [(g, i, r, e, n) for g, i, r, e, n in (await session.execute(stmt)).all()]


# ---- management (services.identity) -------------------------------------------------------

Named = TypeVar("Named", Organization, User, UserGroup, Role, Policy, ResourceSet, LogonPolicy)
_NAME_COLUMN = {
    Organization: "name",
    User: "username",
    UserGroup: "name",
    Role: "name",
    Policy: "name",
    ResourceSet: "name",
    LogonPolicy: "name",
}


async def lock_account(session: AsyncSession) -> Account | None:
    """The account row, locked until the transaction ends: identity changes take turns
    (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write transactions are exclusive)."""
    stmt = select(Account).limit(1).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_named(
    session: AsyncSession, model: type[Named], account_id: uuid.UUID, name: str
) -> Named | None:
    column = getattr(model, _NAME_COLUMN[model])
    stmt = select(model).where(model.account_id == account_id, column == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_by_id(
    session: AsyncSession, model: type[Named], account_id: uuid.UUID, row_id: uuid.UUID
) -> Named | None:
    row = await session.get(model, row_id)
    return row if row is not None and row.account_id == account_id else None


async def find_names(
    session: AsyncSession, model: type[Named], account_id: uuid.UUID, names: Sequence[str]
) -> list[Named]:
    if not names:
        return []
    column = getattr(model, _NAME_COLUMN[model])
    stmt = select(model).where(model.account_id == account_id, column.in_(set(names)))
    return list((await session.execute(stmt)).scalars().all())


async def page_of(
    session: AsyncSession,
    model: type[Named],
    account_id: uuid.UUID,
    offset: int,
    limit: int,
    *conditions: Any,
) -> tuple[Sequence[Named], int]:
    where = [model.account_id == account_id, *conditions]
    total = (
        await session.execute(select(func.count()).select_from(model).where(*where))
    ).scalar_one()
    column = getattr(model, _NAME_COLUMN[model])
    stmt = select(model).where(*where).order_by(column, model.id).offset(offset).limit(limit)
    return (await session.execute(stmt)).scalars().all(), int(total)


async def organization_tree(
    session: AsyncSession, account_id: uuid.UUID
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Every organization id → its parent id (the tree is small)."""
    stmt = select(Organization.id, Organization.parent_id).where(
        Organization.account_id == account_id
    )
    return {oid: parent for oid, parent in (await session.execute(stmt)).all()}


async def organization_usage(session: AsyncSession, organization_id: uuid.UUID) -> dict[str, int]:
    """What keeps an organization from being deleted: children, users and groups, and the
    roles, policies, resource sets, namespaces and repositories that name it."""

    def count(model: Any, column: Any) -> Any:
        return select(func.count()).select_from(model).where(column == organization_id)

    kinds = {
        "child organizations": (Organization, Organization.parent_id),
        "users": (User, User.organization_id),
        "groups": (UserGroup, UserGroup.organization_id),
        "roles": (Role, Role.organization_id),
        "policies": (Policy, Policy.organization_id),
        "resource sets": (ResourceSet, ResourceSet.organization_id),
        "namespaces": (Namespace, Namespace.organization_id),
        "repositories": (Repository, Repository.organization_id),
    }
    stmt = select(*(count(model, column).scalar_subquery() for model, column in kinds.values()))
    row = (await session.execute(stmt)).one()
    return {what: int(n) for what, n in zip(kinds, row, strict=True)}


async def count_rows(session: AsyncSession, model: Any, *conditions: Any) -> int:
    stmt = select(func.count()).select_from(model).where(*conditions)
    return int((await session.execute(stmt)).scalar_one())


async def count_roles(session: AsyncSession, account_id: uuid.UUID) -> int:
    return await count_rows(session, Role, Role.account_id == account_id)


async def count_role_policies(session: AsyncSession, role_id: uuid.UUID) -> int:
    return await count_rows(session, RolePolicy, RolePolicy.role_id == role_id)


async def lock_role(session: AsyncSession, role_id: uuid.UUID) -> None:
    await session.execute(select(Role.id).where(Role.id == role_id).with_for_update())


async def add_link(session: AsyncSession, row: Base) -> bool:
    """Insert a link row (user-role, group-member, …); False when it was there already."""
    values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    return await insert_ignore(session, type(row), **values)


async def remove_link(session: AsyncSession, model: Any, **keys: Any) -> bool:
    """Delete a link row; False when there was none."""
    stmt = delete(model).where(*(getattr(model, k) == v for k, v in keys.items()))
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_where(session: AsyncSession, model: Any, *conditions: Any) -> None:
    await session.execute(delete(model).where(*conditions))


async def delete_row(session: AsyncSession, row: Base) -> None:
    await session.delete(row)
    await session.flush()


async def clear_resource_set(session: AsyncSession, resource_set_id: uuid.UUID) -> None:
    """Namespaces and repositories of a deleted set belong to no set any more."""
    for model in (Namespace, Repository):
        await session.execute(
            update(model)
            .where(model.resource_set_id == resource_set_id)
            .values(resource_set_id=None)
        )


async def clear_logon_policy(session: AsyncSession, logon_policy_id: uuid.UUID) -> None:
    """Users of a deleted logon policy fall back to the default one."""
    await session.execute(
        update(User).where(User.logon_policy_id == logon_policy_id).values(logon_policy_id=None)
    )


async def names_by(
    session: AsyncSession,
    link: Any,
    key: str,
    ids: Sequence[uuid.UUID],
    target: Any,
    target_key: str,
) -> dict[uuid.UUID, list[str]]:
    """For each id of ``ids``: the names of the rows ``link`` joins it to, sorted.

    ``names_by(s, UserRole, "user_id", ids, Role, "role_id")`` → user id → role names.
    """
    if not ids:
        return {}
    name = getattr(target, _NAME_COLUMN[target])
    key_column = getattr(link, key)
    stmt = (
        select(key_column, name)
        .join(target, target.id == getattr(link, target_key))
        .where(key_column.in_(set(ids)))
        .order_by(name)
    )
    out: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    for owner, value in (await session.execute(stmt)).all():
        out[owner].append(value)
    return out


async def names_of(
    session: AsyncSession, model: type[Named], ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    name = getattr(model, _NAME_COLUMN[model])
    stmt = select(model.id, name).where(model.id.in_(wanted))
    return {i: n for i, n in (await session.execute(stmt)).all()}


async def _placed_in_sets(
    session: AsyncSession, set_column: Any, instance_id: Any, name: Any, set_ids: set[uuid.UUID]
) -> list[tuple[uuid.UUID, str, str]]:
    """(set id, instance id, name) of the rows placed in one of ``set_ids``, sorted."""
    stmt = (
        select(set_column, instance_id, name)
        .where(set_column.in_(set_ids))
        .order_by(instance_id, name)
    )
    return [(set_id, iid, n) for set_id, iid, n in (await session.execute(stmt)).all() if set_id]


async def resource_set_members(
    session: AsyncSession, set_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """Set id → ([(instance id, namespace)], [(instance id, ns/repo)]), sorted."""
    out: dict[uuid.UUID, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
        i: ([], []) for i in set_ids
    }
    if not set_ids:
        return out
    wanted = set(set_ids)
    namespaces = (Namespace.resource_set_id, Namespace.instance_id, Namespace.name)
    for set_id, iid, name in await _placed_in_sets(session, *namespaces, wanted):
        out[set_id][0].append((iid, name))
    repositories = (Repository.resource_set_id, Repository.instance_id, Repository.full_name)
    for set_id, iid, name in await _placed_in_sets(session, *repositories, wanted):
        out[set_id][1].append((iid, name))
    return out


async def count_administrators(session: AsyncSession, role_id: uuid.UUID) -> int:
    """Enabled users holding the role ``role_id`` directly or through a group."""
    direct = select(UserRole.user_id).where(UserRole.role_id == role_id)
    via_groups = (
        select(GroupMember.user_id)
        .join(GroupRole, GroupRole.group_id == GroupMember.group_id)
        .where(GroupRole.role_id == role_id)
    )
    stmt = (
        select(func.count())
        .select_from(User)
        .where(User.disabled.is_(False), User.id.in_(union_all(direct, via_groups)))
    )
    return int((await session.execute(stmt)).scalar_one())


def add(session: AsyncSession, row: Base) -> None:
    session.add(row)


async def flush(session: AsyncSession) -> None:
    await session.flush()


async def touch(session: AsyncSession, row: Any, **values: Any) -> None:
    for key, value in values.items():
        setattr(row, key, value)
    if hasattr(row, "updated_at"):
        row.updated_at = utcnow()
    await session.flush()
