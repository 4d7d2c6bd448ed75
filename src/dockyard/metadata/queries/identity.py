"""Users, their policies, and token signing keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import (
    Organization,
    Policy,
    RolePolicy,
    SigningKey,
    User,
    UserRole,
)


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
