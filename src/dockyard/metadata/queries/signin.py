"""Console sign-in state of users: failure counting and lockout, MFA devices, console
passwords and session epochs (``services.signin``).

Every counter changes in one conditional ``UPDATE`` on the row, never read-modify-write in
Python, so concurrent sign-ins in several workers (and nodes) count every attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CursorResult, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.base import UTCDateTime
from dockyard.metadata.models import LogonPolicy, User


async def find_user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def find_logon_policy(
    session: AsyncSession, policy_id: uuid.UUID | None
) -> LogonPolicy | None:
    if policy_id is None:
        return None
    return await session.get(LogonPolicy, policy_id)


def _rowcount(result: object) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


async def count_failure(
    session: AsyncSession, user_id: uuid.UUID, threshold: int, lock_until: datetime
) -> datetime | None:
    """One more consecutive failure; the ``threshold``-th locks the user until ``lock_until``
    and starts the count again. Returns the new ``locked_until`` when this failure locked.

    One statement: ``failed_signins + 1`` is evaluated by the database on the current row.
    """
    reached = User.failed_signins + 1 >= threshold
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(
            failed_signins=case((reached, 0), else_=User.failed_signins + 1),
            locked_until=case(
                (reached, literal(lock_until, UTCDateTime())), else_=User.locked_until
            ),
        )
        .returning(User.failed_signins, User.locked_until)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    count, locked_until = row
    return locked_until if count == 0 and locked_until == lock_until else None


async def session_epoch_of(session: AsyncSession, user_id: uuid.UUID) -> int | None:
    stmt = select(User.session_epoch).where(User.id == user_id)
    epoch = (await session.execute(stmt)).scalar_one_or_none()
    return None if epoch is None else int(epoch)


async def clear_failures(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A successful sign-in: the consecutive-failure count and any lock end."""
    await session.execute(
        update(User)
        .where(User.id == user_id, (User.failed_signins != 0) | User.locked_until.is_not(None))
        .values(failed_signins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )


async def claim_totp_step(session: AsyncSession, user_id: uuid.UUID, step: int) -> bool:
    """Accept TOTP time step ``step`` once: only if it is later than the last one accepted."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.mfa_last_step < step)
        .values(mfa_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def store_pending_mfa_secret(
    session: AsyncSession, user_id: uuid.UUID, encrypted: bytes
) -> None:
    """A new, not yet bound TOTP seed (only while no device is bound)."""
    await session.execute(
        update(User)
        .where(User.id == user_id, User.mfa_bound_at.is_(None))
        .values(mfa_secret_encrypted=encrypted, mfa_last_step=0)
        .execution_options(synchronize_session=False)
    )


async def bind_mfa_device(
    session: AsyncSession, user_id: uuid.UUID, encrypted: bytes, step: int, at: datetime
) -> bool:
    """Bind the pending seed ``encrypted`` (unchanged since the bind token was issued), with
    the code's step as the last one accepted. False if it changed or is bound already."""
    result = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            User.mfa_bound_at.is_(None),
            User.mfa_required.is_(True),
            User.mfa_secret_encrypted == encrypted,
        )
        .values(mfa_bound_at=at, mfa_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def set_console_password(
    session: AsyncSession,
    user_id: uuid.UUID,
    password_hash: str,
    *,
    must_change: bool,
    at: datetime,
) -> int | None:
    """A new console password: every session ends (the epoch moves on), any lock ends.
    Returns the new session epoch (None: no such user)."""
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(
            password_hash=password_hash,
            must_change_password=must_change,
            password_changed_at=at,
            failed_signins=0,
            locked_until=None,
            session_epoch=User.session_epoch + 1,
        )
        .returning(User.session_epoch)
        .execution_options(synchronize_session=False)
    )
    epoch = (await session.execute(stmt)).scalar_one_or_none()
    return None if epoch is None else int(epoch)


async def bump_session_epoch(session: AsyncSession, user_id: uuid.UUID) -> int | None:
    """End every session of the user (sign-out); the new epoch."""
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(session_epoch=User.session_epoch + 1)
        .returning(User.session_epoch)
        .execution_options(synchronize_session=False)
    )
    epoch = (await session.execute(stmt)).scalar_one_or_none()
    return None if epoch is None else int(epoch)
