"""Console sign-in (PRODUCT.md §3): password, lockout, logon policy, forced password
change, virtual MFA devices (TOTP), sessions, sign-out, password change and reset.

``sign_in`` checks, in this order, and refuses with the first that fails:

1. the password (argon2; an unknown user costs the same argon2 run) — but a **locked** user
   is refused with :class:`errors.AccountLockedError` whatever the password, so that a lock never
   tells a right password from a wrong one. A wrong password (and later a wrong MFA code)
   is a failure: ``LOCKOUT_THRESHOLD`` consecutive failures lock the user for
   ``LOCKOUT_DURATION``; counted per user in one ``UPDATE`` (every worker sees every
   failure); only a session issued resets the count.
2. the user's **logon policy** (``services.logon``), with the client address and the clock;
   a refusal is audited but is not a password failure;
3. a **disabled** user is refused;
4. ``must_change_password`` (an initial or reset password): refused with
   :class:`errors.PasswordChangeRequiredError` unless ``new_password`` is given, which must pass
   :func:`check_password_complexity` and differ from the old one. With a bound MFA device
   the code is checked before the change is made;
5. **MFA**: required by an administrator and no device bound → :class:`errors.MfaBindRequiredError`
   with a 10-minute bind token, the base32 seed and its ``otpauth://`` URI (the seed is
   stored encrypted, not yet bound; ``bind_mfa`` binds it with a valid code, then the user
   signs in again). A bound device needs ``mfa_code``: 6 digits, 30-second steps, one step
   either side accepted, and a step is never accepted twice (``users.mfa_last_step``).

Success issues a management API session token (``TokenService.issue_session``) tied to the
user's ``session_epoch``: a sign-out, a password change or reset moves the epoch on and every
earlier session ends. Every attempt, bind, change and reset writes an audit row (actor,
source address, outcome, a reason code) — never a password, a code or a seed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import pyotp
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import AuthenticationError, InvalidInputError, NotFoundError
from dockyard.metadata.models import User
from dockyard.metadata.queries import identity as iq
from dockyard.metadata.queries import signin as q
from dockyard.metadata.session import Database
from dockyard.services import logon
from dockyard.services.access import AccountLookup, Principal
from dockyard.services.audit import Actor, AuditLog, Outcome
from dockyard.services.credentials import TokenService
from dockyard.services.passwords import (
    LOCKOUT_DURATION,
    LOCKOUT_THRESHOLD,
    check_password_complexity,
    hash_password,
    verify_password,
)
from dockyard.services.secrets import MasterKey
from dockyard.services.signin import errors
from dockyard.services.signin.totp import (
    TOTP_DIGITS,
    TOTP_PERIOD,
    matching_step,
    otpauth_uri,
)

BIND_TOKEN_TTL = timedelta(minutes=10)
MFA_SEED_PURPOSE = "mfa-totp-seed"
BIND_TOKEN_PURPOSE = "mfa-bind-token"  # noqa: S105 - a key purpose

#: Audit event names (``audit_events.action``).
SIGNIN_EVENT = "signin"
MFA_BIND_EVENT = "mfa.bind"
SIGNOUT_EVENT = "signout"
CHANGE_PASSWORD_ACTION = "ram:ChangePassword"  # noqa: S105 - an action name
RESET_PASSWORD_ACTION = "ram:ResetPassword"  # noqa: S105 - an action name

_INVALID_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True, slots=True)
class SessionGrant:
    username: str
    token: str
    expires_in: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MfaBinding:
    username: str
    bound_at: datetime


class SignInService:
    def __init__(
        self,
        db: Database,
        master: MasterKey,
        tokens: TokenService,
        *,
        audit: AuditLog,
        accounts: AccountLookup,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._master = master
        self._tokens = tokens
        self._audit = audit
        self._clock = clock
        self._accounts = accounts

    # ---- helpers ----------------------------------------------------------------------------

    async def account_arn_id(self) -> str:
        """The account id in RAM ARNs (``acs:ram::$id:user/$name``)."""
        return await self._accounts.arn_id()

    async def _user_arn(self, username: str) -> str:
        return await self._accounts.ram_arn(f"user/{username}")

    async def _load(self, username: str) -> tuple[User | None, Any]:
        account_id = (await self._accounts.ids()).id
        async with self._db.read() as session:
            user = await iq.find_user(session, account_id, username)
            policy = await q.find_logon_policy(session, user.logon_policy_id) if user else None
        return user, policy

    def _issue(self, user: User, epoch: int) -> SessionGrant:
        principal = Principal(name=user.username, user_id=str(user.id))
        # The ``epoch`` claim ties the session to users.session_epoch.
        token, ttl = self._tokens.issue_session(principal, epoch=epoch)
        return SessionGrant(user.username, token, ttl, self._clock.now() + timedelta(seconds=ttl))

    def _seed(self, user: User) -> str | None:
        if not user.mfa_secret_encrypted:
            return None
        try:
            return self._master.decrypt(user.mfa_secret_encrypted, MFA_SEED_PURPOSE).decode()
        except (InvalidTag, ValueError):
            return None

    async def _failure(
        self,
        user: User,
        *,
        reason: str,
        source_ip: str | None,
        detail: dict[str, Any] | None = None,
        action: str = SIGNIN_EVENT,
        resource: str = "",
    ) -> datetime | None:
        """Count one failed password or code check toward the lockout (and audit it as
        ``action``, in the same transaction); the lock it set, if this one locked the user.
        Sign-in and the password change share it, so both count toward the same lockout."""
        now = self._clock.now()
        async with self._db.write() as session:
            locked = await q.count_failure(
                session, user.id, LOCKOUT_THRESHOLD, now + LOCKOUT_DURATION
            )
            await self._audit_user(
                session,
                user,
                action,
                "failure",
                source_ip,
                resource=resource,
                detail={"reason": reason, **({"locked": True} if locked else {}), **(detail or {})},
            )
        return locked

    async def _audit_user(
        self,
        session: AsyncSession | None,
        user: User | None,
        action: str,
        outcome: Outcome,
        source_ip: str | None,
        *,
        resource: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """The audit row of one attempt by ``user`` (anonymous: the typed name is never
        recorded, people type passwords into it): in ``session``, so that it commits with the
        change, or without one in a transaction of its own."""
        address = source_ip or ""
        who = Actor(user.username, user.id, address) if user else Actor("anonymous", None, address)
        row = who.row(action, outcome, resource, detail)
        if session is None:
            await self._audit.record(**row)
        else:
            await self._audit.add(session, **row)

    def _locked_error(self, locked_until: datetime) -> errors.AccountLockedError:
        retry = max(1, math.ceil((locked_until - self._clock.now()).total_seconds()))
        return errors.AccountLockedError(
            f"the account is locked after {LOCKOUT_THRESHOLD} failed sign-ins; try again "
            f"after {locked_until:%Y-%m-%d %H:%M:%S} UTC or ask an administrator to reset "
            "the password",
            locked_until=locked_until,
            retry_after=retry,
        )

    async def _refuse(
        self,
        user: User,
        error: errors.SignInRefusedError,
        *,
        source_ip: str | None,
        detail: dict[str, Any] | None = None,
    ) -> errors.SignInRefusedError:
        """Audit the refusal (the error's code is the reason); the error."""
        await self._deny(user, source_ip, error.code, detail)
        return error

    async def _deny(
        self, user: User, source_ip: str | None, reason: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Audit a sign-in refused as ``denied`` (not a password failure)."""
        await self._audit_user(
            None,
            user,
            SIGNIN_EVENT,
            "denied",
            source_ip,
            detail={"reason": reason, **(detail or {})},
        )

    # ---- sign-in ----------------------------------------------------------------------------

    async def sign_in(
        self,
        username: str,
        password: str,
        *,
        source_ip: str | None,
        mfa_code: str | None = None,
        new_password: str | None = None,
    ) -> SessionGrant:
        user, policy = await self._load(username)
        hashed = user.password_hash if user is not None else None
        ok = await anyio.to_thread.run_sync(verify_password, hashed, password)
        if user is None:
            # The typed name is not recorded: people type passwords into it.
            await self._audit_user(
                None, None, SIGNIN_EVENT, "failure", source_ip, detail={"reason": "UNKNOWN_USER"}
            )
            raise AuthenticationError(_INVALID_CREDENTIALS)
        now = self._clock.now()

        # 1. lockout, then the password
        if user.locked_until is not None and user.locked_until > now:
            raise await self._refuse(
                user, self._locked_error(user.locked_until), source_ip=source_ip
            )
        if not ok:
            locked = await self._failure(user, reason="BAD_PASSWORD", source_ip=source_ip)
            if locked is not None:
                raise self._locked_error(locked)
            raise AuthenticationError(_INVALID_CREDENTIALS)

        # 2. logon policy (not a password failure)
        denial = logon.logon_denial(policy, source_ip, now)
        if denial is not None:
            raise await self._refuse(
                user,
                errors.LogonPolicyDeniedError(denial, logonPolicy=policy.name if policy else None),
                source_ip=source_ip,
                detail={"logonPolicy": policy.name if policy else None},
            )

        # 3. disabled
        if user.disabled:
            raise await self._refuse(
                user,
                errors.UserDisabledError(f"user {user.username} is disabled"),
                source_ip=source_ip,
            )

        # 4. forced password change
        if user.must_change_password and new_password is None:
            raise await self._refuse(
                user,
                errors.PasswordChangeRequiredError(
                    "the password must be changed before the first sign-in: sign in again "
                    "with newPassword"
                ),
                source_ip=source_ip,
            )
        if new_password is not None:
            try:
                self._check_new_password(user, password, new_password)
            except InvalidInputError as exc:
                await self._deny(user, source_ip, "INVALID_NEW_PASSWORD")
                raise exc from None

        # 5. MFA
        bound = user.mfa_required and user.mfa_bound_at is not None
        step: int | None = None
        if bound:
            step = await self._check_code(user, mfa_code, source_ip=source_ip)

        if new_password is not None:
            new_hash = await anyio.to_thread.run_sync(hash_password, new_password)
            async with self._db.write() as session:
                if step is not None and not await q.claim_totp_step(session, user.id, step):
                    step = -1  # used meanwhile by a concurrent sign-in
                else:
                    await self._store_password(
                        session,
                        user,
                        new_hash,
                        source_ip,
                        at=now,
                        reason="PASSWORD_CHANGE_REQUIRED",
                    )
            if step == -1:
                raise await self._replayed(user, source_ip)
            step = None  # claimed

        if user.mfa_required and not bound:
            raise await self._bind_required(user, source_ip=source_ip)

        epoch: int | None = None
        async with self._db.write() as session:
            if step is not None and not await q.claim_totp_step(session, user.id, step):
                step = -1
            else:
                # The epoch now (a sign-out or change meanwhile must not kill this session).
                epoch = await q.session_epoch_of(session, user.id)
                await q.clear_failures(session, user.id)
                await self._audit_user(
                    session, user, SIGNIN_EVENT, "success", source_ip, detail={"mfa": bound}
                )
        if step == -1:
            raise await self._replayed(user, source_ip)
        if epoch is None:
            raise AuthenticationError(_INVALID_CREDENTIALS)  # deleted meanwhile
        return self._issue(user, epoch)

    async def _store_password(
        self,
        session: AsyncSession,
        user: User,
        new_hash: str,
        source_ip: str | None,
        *,
        at: datetime,
        reason: str | None = None,
    ) -> int | None:
        """Set the user's own new console password and audit the change, in ``session``;
        the user's new session epoch (None: the user is gone)."""
        epoch = await q.set_console_password(session, user.id, new_hash, must_change=False, at=at)
        await self._audit_user(
            session,
            user,
            CHANGE_PASSWORD_ACTION,
            "success",
            source_ip,
            resource=await self._user_arn(user.username),
            detail={"reason": reason} if reason else None,
        )
        return epoch

    @staticmethod
    def _check_new_password(user: User, password: str, new_password: str) -> None:
        if not user.must_change_password:
            raise InvalidInputError(
                "newPassword: only accepted when a password change is required; "
                "change the password with POST /api/v1/auth/password",
                detail={"field": "newPassword"},
            )
        check_password_complexity(new_password, "newPassword")
        if new_password == password:
            raise InvalidInputError(
                "newPassword: must differ from the current password",
                detail={"field": "newPassword"},
            )

    async def _check_code(self, user: User, code: str | None, *, source_ip: str | None) -> int:
        """The step of a valid, unused code; else refuse (an invalid code is a failure)."""
        if not code:
            raise await self._refuse(
                user,
                errors.MfaCodeRequiredError(
                    "enter the 6-digit code of your virtual MFA device (mfaCode)",
                    mfaCodeRejected=False,
                ),
                source_ip=source_ip,
            )
        seed = self._seed(user)
        step = matching_step(seed, code, self._clock.now()) if seed else None
        if step is None or step <= user.mfa_last_step:
            reason = "MFA_CODE_REPLAYED" if step is not None else "BAD_MFA_CODE"
            locked = await self._failure(user, reason=reason, source_ip=source_ip)
            if locked is not None:
                raise self._locked_error(locked)
            raise errors.MfaCodeRequiredError(
                "the MFA code is not valid (wrong, expired or used already); enter the current "
                "code of your virtual MFA device",
                mfaCodeRejected=True,
            )
        return step

    async def _replayed(self, user: User, source_ip: str | None) -> errors.SignInRefusedError:
        locked = await self._failure(user, reason="MFA_CODE_REPLAYED", source_ip=source_ip)
        if locked is not None:
            return self._locked_error(locked)
        return errors.MfaCodeRequiredError(
            "the MFA code was used already; wait for the next code", mfaCodeRejected=True
        )

    async def _bind_required(
        self, user: User, *, source_ip: str | None
    ) -> errors.SignInRefusedError:
        """Issue (or re-issue) the pending seed and a bind token for it."""
        seed = self._seed(user)
        if seed is None:
            seed = pyotp.random_base32()
            encrypted = self._master.encrypt(seed.encode(), MFA_SEED_PURPOSE)
            async with self._db.write() as session:
                await q.store_pending_mfa_secret(session, user.id, encrypted)
        else:
            assert user.mfa_secret_encrypted is not None
            encrypted = user.mfa_secret_encrypted
        expires = self._clock.now() + BIND_TOKEN_TTL
        token = self._bind_token(user, encrypted, expires)
        return await self._refuse(
            user,
            errors.MfaBindRequiredError(
                "multi-factor authentication is required: add the secret to a virtual MFA "
                "app, then POST /api/v1/auth/mfa/bind with bindToken and a current code, "
                "then sign in again with mfaCode",
                bindToken=token,
                bindTokenExpiresAt=expires.isoformat(),
                secret=seed,
                otpauthUri=otpauth_uri(seed, user.username),
                digits=TOTP_DIGITS,
                period=TOTP_PERIOD,
            ),
            source_ip=source_ip,
        )

    # ---- MFA binding ------------------------------------------------------------------------

    def _bind_token(self, user: User, encrypted_seed: bytes, expires: datetime) -> str:
        claims = {
            "uid": str(user.id),
            "sub": user.username,
            "exp": int(expires.timestamp()),
            "seed": hashlib.sha256(encrypted_seed).hexdigest()[:32],
        }
        blob = self._master.encrypt(json.dumps(claims).encode(), BIND_TOKEN_PURPOSE)
        return base64.urlsafe_b64encode(blob).decode().rstrip("=")

    def _read_bind_token(self, token: str) -> dict[str, Any]:
        invalid = AuthenticationError("the bind token is invalid or expired; sign in again")
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            claims = json.loads(self._master.decrypt(blob, BIND_TOKEN_PURPOSE))
            if not isinstance(claims, dict):
                raise invalid
            claims["uid"] = uuid.UUID(str(claims["uid"]))
            expires = int(claims["exp"])
        except (ValueError, InvalidTag, TypeError, KeyError) as exc:
            raise invalid from exc
        if expires <= int(self._clock.now().timestamp()):
            raise invalid
        return claims

    async def bind_mfa(self, bind_token: str, code: str, *, source_ip: str | None) -> MfaBinding:
        try:
            claims = self._read_bind_token(bind_token)
        except AuthenticationError:
            await self._audit_user(
                None,
                None,
                MFA_BIND_EVENT,
                "failure",
                source_ip,
                detail={"reason": "INVALID_BIND_TOKEN"},
            )
            raise
        async with self._db.read() as session:
            user = await q.find_user_by_id(session, claims["uid"])
        invalid = AuthenticationError("the bind token is invalid or expired; sign in again")
        if (
            user is None
            or user.username != claims.get("sub")
            or user.disabled
            or not user.mfa_required
            or user.mfa_bound_at is not None
            or not user.mfa_secret_encrypted
            or hashlib.sha256(user.mfa_secret_encrypted).hexdigest()[:32] != claims.get("seed")
        ):
            # Bound meanwhile, MFA turned off, a newer seed, the user gone or disabled.
            await self._audit_user(
                None,
                user,
                MFA_BIND_EVENT,
                "failure",
                source_ip,
                detail={"reason": "STALE_BIND_TOKEN"},
            )
            raise invalid
        seed = self._seed(user)
        now = self._clock.now()
        step = matching_step(seed, code, now) if seed else None
        if step is None:
            await self._audit_user(
                None, user, MFA_BIND_EVENT, "failure", source_ip, detail={"reason": "BAD_MFA_CODE"}
            )
            raise InvalidInputError(
                "code: not the current code of the MFA device (check the device's clock)",
                detail={"field": "code"},
            )
        async with self._db.write() as session:
            bound = await q.bind_mfa_device(session, user.id, user.mfa_secret_encrypted, step, now)
            if bound:
                await self._audit_user(session, user, MFA_BIND_EVENT, "success", source_ip)
        if not bound:
            raise invalid
        return MfaBinding(user.username, now)

    # ---- passwords and sessions -----------------------------------------------------------

    async def change_password(
        self,
        username: str,
        old_password: str,
        new_password: str,
        *,
        source_ip: str | None,
    ) -> SessionGrant:
        """The caller's own console password; every session ends, a new one is returned."""
        user, _ = await self._load(username)
        if user is None:
            raise NotFoundError(f"user {username} not found")
        now = self._clock.now()
        if user.locked_until is not None and user.locked_until > now:
            raise self._locked_error(user.locked_until)
        ok = await anyio.to_thread.run_sync(verify_password, user.password_hash, old_password)
        if not ok:
            locked = await self._failure(
                user,
                reason="BAD_PASSWORD",
                source_ip=source_ip,
                action=CHANGE_PASSWORD_ACTION,
                resource=await self._user_arn(user.username),
            )
            if locked is not None:
                raise self._locked_error(locked)
            raise InvalidInputError(
                "oldPassword: not the current password", detail={"field": "oldPassword"}
            )
        try:
            check_password_complexity(new_password, "newPassword")
            if new_password == old_password:
                raise InvalidInputError(
                    "newPassword: must differ from the current password",
                    detail={"field": "newPassword"},
                )
        except InvalidInputError:
            await self._audit_user(
                None,
                user,
                CHANGE_PASSWORD_ACTION,
                "failure",
                source_ip,
                resource=await self._user_arn(user.username),
                detail={"reason": "INVALID_NEW_PASSWORD"},
            )
            raise
        new_hash = await anyio.to_thread.run_sync(hash_password, new_password)
        async with self._db.write() as session:
            epoch = await self._store_password(session, user, new_hash, source_ip, at=now)
        if epoch is None:
            raise NotFoundError(f"user {username} not found")
        return self._issue(user, epoch)

    async def reset_password(
        self,
        username: str,
        password: str,
        *,
        actor: str,
        actor_id: str | None,
        source_ip: str | None,
    ) -> None:
        """An administrator sets a new console password: the user must change it at the
        next sign-in; the lock ends; every session of the user ends."""
        check_password_complexity(password, "password")
        user, _ = await self._load(username)
        if user is None:
            raise NotFoundError(f"user {username} not found")
        new_hash = await anyio.to_thread.run_sync(hash_password, password)
        async with self._db.write() as session:
            epoch = await q.set_console_password(
                session, user.id, new_hash, must_change=True, at=self._clock.now()
            )
            await self._audit.change(
                session,
                Actor(actor, actor_id, source_ip or ""),
                RESET_PASSWORD_ACTION,
                await self._user_arn(user.username),
                {"user": user.username},
            )
        if epoch is None:
            raise NotFoundError(f"user {username} not found")

    async def sign_out(self, username: str, *, source_ip: str | None) -> None:
        """End every session of the user (the session epoch moves on)."""
        user, _ = await self._load(username)
        if user is None:
            raise NotFoundError(f"user {username} not found")
        async with self._db.write() as session:
            await q.bump_session_epoch(session, user.id)
            await self._audit_user(session, user, SIGNOUT_EVENT, "success", source_ip)
