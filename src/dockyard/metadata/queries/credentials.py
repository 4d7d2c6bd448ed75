"""Registry passwords, access keys, STS credentials and registry authentication failures."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import AccessKey, AuthFailure, StsCredential, User


async def set_registry_password(
    session: AsyncSession, user_id: uuid.UUID, password_hash: str, at: datetime
) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(registry_password_hash=password_hash, registry_password_changed_at=at)
    )


# ---- access keys --------------------------------------------------------------------------


async def find_access_key(session: AsyncSession, key_id: str) -> AccessKey | None:
    return await session.get(AccessKey, key_id)


async def access_keys_of_user(session: AsyncSession, user_id: uuid.UUID) -> Sequence[AccessKey]:
    stmt = (
        select(AccessKey)
        .where(AccessKey.user_id == user_id)
        .order_by(AccessKey.created_at, AccessKey.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def count_access_keys(session: AsyncSession, user_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(AccessKey).where(AccessKey.user_id == user_id)
    return int((await session.execute(stmt)).scalar_one())


def add_access_key(session: AsyncSession, key: AccessKey) -> None:
    session.add(key)


async def set_access_key_status(session: AsyncSession, key_id: str, status: str) -> None:
    await session.execute(update(AccessKey).where(AccessKey.id == key_id).values(status=status))


async def delete_access_key(session: AsyncSession, key_id: str) -> None:
    # STS credentials derived from the key go with it (explicitly: SQLite may run without
    # foreign-key enforcement).
    await session.execute(delete(StsCredential).where(StsCredential.access_key_id == key_id))
    await session.execute(delete(AccessKey).where(AccessKey.id == key_id))


async def touch_access_key(
    session: AsyncSession, key_id: str, now: datetime, stale_before: datetime
) -> None:
    """Set ``last_used_at`` unless it is already newer than ``stale_before``."""
    await session.execute(
        update(AccessKey)
        .where(
            AccessKey.id == key_id,
            (AccessKey.last_used_at.is_(None)) | (AccessKey.last_used_at < stale_before),
        )
        .values(last_used_at=now)
    )


# ---- STS credentials -------------------------------------------------------------------------


def add_sts_credential(session: AsyncSession, credential: StsCredential) -> None:
    session.add(credential)


async def find_sts_credential(session: AsyncSession, sts_id: str) -> StsCredential | None:
    return await session.get(StsCredential, sts_id)


async def delete_expired_sts(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(StsCredential).where(StsCredential.expires_at < before))


# ---- registry authentication failures ---------------------------------------------------------


def add_auth_failure(session: AsyncSession, scope: str, address: str, at: datetime) -> None:
    session.add(AuthFailure(scope=scope, address=address, at=at))


async def auth_failures_since(
    session: AsyncSession, scope: str, address: str, since: datetime
) -> tuple[int, datetime | None]:
    """(number of failures from ``address`` since ``since``, the oldest of them)."""
    stmt = select(func.count(), func.min(AuthFailure.at)).where(
        AuthFailure.scope == scope, AuthFailure.address == address, AuthFailure.at >= since
    )
    count, oldest = (await session.execute(stmt)).one()
    return int(count), oldest


async def prune_auth_failures(session: AsyncSession, scope: str, before: datetime) -> None:
    await session.execute(
        delete(AuthFailure).where(AuthFailure.scope == scope, AuthFailure.at < before)
    )
