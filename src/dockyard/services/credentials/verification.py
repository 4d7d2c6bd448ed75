"""Verification of every credential a caller presents: registry passwords, temporary
registry credentials, access keys, STS credentials, session and refresh tokens.

* **Registry password** (PRODUCT.md §4): argon2 (deliberately slow), so a verified pair is
  cached for a short time under an HMAC of the pair keyed by the master key: the cache never
  holds the secret itself. A cache hit is re-checked against the user's *current* password
  hash and ``disabled`` flag, so a reset or a disable takes effect at once on every worker,
  and its permissions are loaded fresh: the cache saves the argon2 run, nothing else.
* **Temporary credentials**: user ``cr_temp_user`` and a signed JWT (audience
  ``<service>:temp``) as the password, valid for 1 hour or until the STS credentials the
  token was requested with expire; the principal is loaded fresh on every use.
* **Access keys**: ``AK`` + 22 random alphanumerics and a 40-character secret shown once;
  stored as HMAC-SHA256 under a key derived from the master key (the secrets are long and
  random, so a fast keyed hash is enough), compared in constant time.
* **STS credentials**: ``STS.`` + random id, a secret (stored like access-key secrets) and a
  signed security token; refused after expiry or once the parent access key is disabled or
  deleted.
* **Tokens** are ES256 JWTs with a ``kid``; the key pair lives in the database with the
  private half encrypted, so every worker and node signs with the same key. Session tokens
  carry the user's ``session_epoch``: bumping it (sign-out, password change, disable) ends
  every session issued before.

Every principal is built by :func:`dockyard.services.access.load_principal`; disabled
users are refused everywhere. Logon policies (:mod:`dockyard.services.logon`) apply to the
registry password, temporary credentials, refresh tokens and console-password Basic.
Failed authentications and credential changes are written to the audit log (never the
secret).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import (
    AuthenticationError,
)
from dockyard.metadata.models import LogonPolicy, User
from dockyard.metadata.queries import credentials as cq
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import signin as sq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.access import AccountLookup, NoAccountError, Principal, load_principal
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.credentials.ratelimit import AuthRateLimiter
from dockyard.services.credentials.rules import (
    LAST_USED_GRANULARITY,
    TEMP_USERNAME,
)
from dockyard.services.credentials.tokens import (
    RefreshClaims,
    TokenService,
)
from dockyard.services.credentials.views import (
    Authenticated,
    Method,
)
from dockyard.services.logon import logon_denial
from dockyard.services.passwords import (
    LOCKOUT_DURATION,
    LOCKOUT_THRESHOLD,
    verify_password,
)
from dockyard.services.secrets import MasterKey

BASIC_CACHE_SECONDS = 30
BASIC_CACHE_ENTRIES = 1024


@dataclass(frozen=True, slots=True)
class _Cached:
    expires: float
    principal: Principal
    user_id: uuid.UUID
    hashed: str
    version: int


def password_version(user: User) -> int:
    """The registry password's version: its change time (0 if never changed)."""
    changed = user.registry_password_changed_at
    return int(changed.timestamp() * 1000) if changed else 0


class CredentialVerifier:
    """Turns credentials into a Principal, for the registry and the management API."""

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        *,
        tokens: TokenService | None = None,
        audit: AuditLog,
        accounts: AccountLookup,
        limiter: AuthRateLimiter | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._mac_key = hashlib.sha256(master.raw + b"basic-cache").digest()
        self._secret_key = secret_hash_key(master)
        self._cache: OrderedDict[bytes, _Cached] = OrderedDict()
        self._tokens = tokens
        self._audit = audit
        self._limiter = limiter
        self._clock = clock
        self._accounts = accounts

    # -- helpers ------------------------------------------------------------------------------
    async def _account_arn_id(self, session: Any) -> str:
        try:
            return await self._accounts.arn_id(session)
        except NoAccountError as exc:
            raise AuthenticationError(exc.message) from exc

    async def _fail(
        self,
        actor: str,
        method: Method,
        address: str | None,
        reason: str,
        *,
        face: str,
        message: str | None = None,
    ) -> AuthenticationError:
        """Audit a failed authentication (and count it for the registry's rate limit)."""
        who = Actor((actor or "anonymous")[:64], None, address or "")  # as typed, within the column
        await self._audit.record(
            **who.row("authenticate", "failure", face, {"method": method, "reason": reason})
        )
        if face == "registry" and self._limiter is not None:
            await self._limiter.record_failure(address)
        return AuthenticationError(message or reason)

    async def _admit(
        self,
        session: Any,
        user: User | None,
        refusal: str | None,
        actor: str,
        method: Method,
        address: str | None,
        message: str | None = None,
    ) -> Principal:
        """The principal of ``user`` for the management API, unless ``refusal`` (or no user)
        refuses the credentials: then the failure is audited and raised."""
        if user is None or refusal is not None:
            raise await self._fail(
                actor, method, address, refusal or "refused", face="api", message=message
            )
        return await load_principal(session, user, await self._account_arn_id(session))

    async def _check_logon(
        self,
        user: User,
        policy: LogonPolicy | None,
        address: str | None,
        method: Method,
        face: str,
    ) -> None:
        reason = logon_denial(policy, address, self._clock.now())
        if reason is None:
            return
        who = Actor(user.username, user.id, address or "")
        await self._audit.record(
            **who.row("authenticate", "denied", face, {"method": method, "reason": reason})
        )
        raise AuthenticationError(f"refused by the logon policy of {user.username}: {reason}")

    def secret_hash(self, secret: str) -> str:
        return hmac.new(self._secret_key, secret.encode(), hashlib.sha256).hexdigest()

    def forget_user(self, user_id: uuid.UUID | str) -> None:
        """Drop this worker's cached verifications of a user (others re-check the hash)."""
        uid = uuid.UUID(str(user_id))
        for key in [k for k, v in self._cache.items() if v.user_id == uid]:
            self._cache.pop(key, None)

    # -- passwords ----------------------------------------------------------------------------
    async def verify(
        self, username: str, password: str, *, address: str | None = None
    ) -> Principal:
        """Registry credentials (``docker login``): the registry password, or temporary
        credentials (user ``cr_temp_user``)."""
        return (await self.login(username, password, address=address)).principal

    async def login(
        self, username: str, password: str, *, address: str | None = None
    ) -> Authenticated:
        """Registry credentials, with what a refresh token made from them must remember."""
        if username == TEMP_USERNAME:
            return await self._verify_temporary(password, address)
        hit = await self._verify_cached(username, password, console=False, address=address)
        return Authenticated(hit.principal, "registry-password", password_version=hit.version)

    async def verify_console(
        self, username: str, password: str, *, address: str | None = None
    ) -> Principal:
        """The console password: management API sign-in and HTTP Basic."""
        hit = await self._verify_cached(username, password, console=True, address=address)
        return hit.principal

    async def _verify_cached(
        self, username: str, password: str, *, console: bool, address: str | None
    ) -> _Cached:
        method: Method = "console-password" if console else "registry-password"
        face = "api" if console else "registry"
        pair = f"{'console' if console else 'registry'}\0{username}\0{password}"
        key = hmac.new(self._mac_key, pair.encode(), hashlib.sha256).digest()
        hit = self._cache.get(key)
        if hit is not None and hit.expires > time.monotonic():
            # Still the same password, still enabled? (a reset elsewhere takes effect now)
            async with self._db.read() as session:
                user = await sq.find_user_by_id(session, hit.user_id)
                current = None
                if user is not None and not user.disabled:
                    current = user.password_hash if console else user.registry_password_hash
                fresh = None
                if user is not None and current == hit.hashed:
                    policy = await sq.find_logon_policy(session, user.logon_policy_id)
                    # Permissions are read fresh: only the argon2 run is saved.
                    fresh = await load_principal(session, user, await self._account_arn_id(session))
            if user is not None and fresh is not None:
                await self._check_logon(user, policy, address, method, face)
                return _Cached(hit.expires, fresh, hit.user_id, hit.hashed, hit.version)
            self._cache.pop(key, None)
        elif hit is not None:
            self._cache.pop(key, None)
        if not console and self._limiter is not None:
            await self._limiter.check(address)
        principal, user, hashed, policy = await self._load_for_password(username, console)
        now = self._clock.now()
        if console and user is not None and user.locked_until and user.locked_until > now:
            # The sign-in lockout holds for Basic too: it would be a way around it otherwise.
            raise await self._fail(
                username,
                method,
                address,
                f"the account is locked after repeated failed sign-ins until "
                f"{user.locked_until:%Y-%m-%d %H:%M:%S} UTC",
                face=face,
            )
        ok = await anyio.to_thread.run_sync(verify_password, hashed, password)
        if not ok or user is None:
            if console and user is not None:
                await self._count_console_failure(user.id)
            raise await self._fail(
                username, method, address, "invalid username or password", face=face
            )
        if console and user.failed_signins:
            async with self._db.write() as session:
                await sq.clear_failures(session, user.id)
        if user.disabled or principal is None or hashed is None:
            raise await self._fail(username, method, address, "the user is disabled", face=face)
        if console and user.mfa_required:
            # HTTP Basic cannot carry an MFA code: such users sign in (session) or use keys.
            raise await self._fail(
                username,
                method,
                address,
                "multi-factor authentication is required for this user: sign in at "
                "/api/v1/auth/signin or use an access key",
                face=face,
            )
        await self._check_logon(user, policy, address, method, face)
        entry = _Cached(
            time.monotonic() + BASIC_CACHE_SECONDS,
            principal,
            user.id,
            hashed,
            password_version(user),
        )
        self._cache[key] = entry
        while len(self._cache) > BASIC_CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return entry

    async def _count_console_failure(self, user_id: uuid.UUID) -> None:
        """A wrong console password over Basic counts towards the sign-in lockout."""
        async with self._db.write() as session:
            await sq.count_failure(
                session, user_id, LOCKOUT_THRESHOLD, self._clock.now() + LOCKOUT_DURATION
            )

    async def _load_for_password(
        self, username: str, console: bool
    ) -> tuple[Principal | None, User | None, str | None, LogonPolicy | None]:
        async with self._db.read() as session:
            account = await tq.find_account(session)
            user = await q.find_user(session, account.id, username) if account else None
            if user is None or account is None:
                return None, None, None, None
            hashed = user.password_hash if console else user.registry_password_hash
            if user.disabled or hashed is None:
                return None, user, hashed, None
            policy = await sq.find_logon_policy(session, user.logon_policy_id)
            principal = await load_principal(session, user, account.arn_id)
        return principal, user, hashed, policy

    async def _verify_temporary(self, token: str, address: str | None) -> Authenticated:
        if self._limiter is not None:
            await self._limiter.check(address)
        if self._tokens is None:
            raise AuthenticationError("temporary credentials are not available")
        try:
            user_id, sts_id, expires_at = self._tokens.verify_temporary(token)
        except AuthenticationError as exc:
            raise await self._fail(
                TEMP_USERNAME,
                "temporary",
                address,
                f"invalid temporary credentials ({exc.message})",
                face="registry",
            ) from exc
        now = self._clock.now()
        async with self._db.read() as session:
            user = await sq.find_user_by_id(session, uuid.UUID(user_id))
            reason = None
            if user is None:
                reason = "the user of the temporary credentials no longer exists"
            elif user.disabled:
                reason = "the user is disabled"
            elif sts_id is not None:
                reason = await _sts_problem(session, sts_id, now)
            if user is None or reason is not None:
                failed = await self._fail(
                    TEMP_USERNAME, "temporary", address, reason or "refused", face="registry"
                )
                raise failed
            policy = await sq.find_logon_policy(session, user.logon_policy_id)
            principal = await load_principal(session, user, await self._account_arn_id(session))
        await self._check_logon(user, policy, address, "temporary", "registry")
        return Authenticated(principal, "temporary", sts_id, expires_at)

    # -- tokens -------------------------------------------------------------------------------
    async def principal_for_user_id(
        self,
        username: str,
        user_id: str,
        *,
        address: str | None = None,
        logon: bool = False,
        refresh: RefreshClaims | None = None,
    ) -> Principal:
        """The principal behind a refresh token: policies are read fresh, never cached.

        With ``refresh``, the credential the token was made from must still stand: the same
        registry password, or STS credentials that still work."""
        async with self._db.read() as session:
            user = await _user_by_id(session, user_id)
            if user is None or user.disabled or user.username != username:
                raise AuthenticationError("the token's user no longer exists or is disabled")
            if refresh is not None:
                problem = None
                if (
                    refresh.password_version is not None
                    and refresh.password_version != password_version(user)
                ):
                    problem = "the registry password changed since this login; log in again"
                elif refresh.sts_id is not None:
                    problem = await _sts_problem(session, refresh.sts_id, self._clock.now())
                if problem is not None:
                    raise AuthenticationError(problem)
            policy = await sq.find_logon_policy(session, user.logon_policy_id) if logon else None
            principal = await load_principal(session, user, await self._account_arn_id(session))
        if logon:
            await self._check_logon(user, policy, address, "refresh-token", "registry")
        return principal

    async def principal_for_session(
        self, username: str, user_id: str, epoch: int, *, address: str | None = None
    ) -> Principal:
        """The principal behind a session token, refused once its epoch has passed."""
        async with self._db.read() as session:
            user = await _user_by_id(session, user_id)
            reason = None
            if user is None or user.username != username:
                reason = "the session's user no longer exists"
            elif user.disabled:
                reason = "the user is disabled"
            elif user.session_epoch != epoch:
                reason = "the session has ended (signed out, password changed or disabled)"
            again = f"{reason}; sign in again"
            return await self._admit(session, user, reason, username, "session", address, again)

    async def issue_session(self, principal: Principal) -> tuple[str, int]:
        """A session token for ``principal`` carrying the user's current session epoch."""
        if self._tokens is None or principal.user_id is None:
            raise AuthenticationError("sessions are only for users")
        async with self._db.read() as session:
            user = await _user_by_id(session, principal.user_id)
            if user is None or user.disabled:
                raise AuthenticationError("the user no longer exists or is disabled")
            epoch = user.session_epoch
        return self._tokens.issue_session(principal, epoch=epoch)

    # -- access keys and STS ------------------------------------------------------------------
    async def authenticate_access_key(
        self, key_id: str, secret: str, *, address: str | None = None
    ) -> Authenticated:
        now = self._clock.now()
        async with self._db.read() as session:
            key = await cq.find_access_key(session, key_id)
            user = await sq.find_user_by_id(session, key.user_id) if key else None
            reason = None
            if key is None or not hmac.compare_digest(self.secret_hash(secret), key.secret_hash):
                reason = "invalid AccessKey ID or secret"
            elif key.status != "active":
                reason = f"the access key {key_id} is disabled"
            elif user is None or user.disabled:
                reason = "the access key's user is disabled"
            actor = user.username if user else key_id
            principal = await self._admit(session, user, reason, actor, "access-key", address)
            assert key is not None  # no key: refused above
            stale = key.last_used_at is None or key.last_used_at < now - LAST_USED_GRANULARITY
        if stale:
            async with self._db.write() as session:
                await cq.touch_access_key(session, key_id, now, now - LAST_USED_GRANULARITY)
        return Authenticated(principal, "access-key", key_id)

    async def authenticate_sts(
        self, sts_id: str, secret: str, security_token: str, *, address: str | None = None
    ) -> Authenticated:
        if self._tokens is None:
            raise AuthenticationError("STS credentials are not available")
        now = self._clock.now()
        try:
            if self._tokens.verify_security_token(security_token) != sts_id:
                raise AuthenticationError("the security token belongs to other credentials")
        except AuthenticationError as exc:
            raise await self._fail(
                sts_id, "sts", address, f"invalid security token ({exc.message})", face="api"
            ) from exc
        async with self._db.read() as session:
            cred = await cq.find_sts_credential(session, sts_id)
            user = await sq.find_user_by_id(session, cred.user_id) if cred else None
            reason = None
            if cred is None or not hmac.compare_digest(self.secret_hash(secret), cred.secret_hash):
                reason = "invalid STS credentials"
            else:
                reason = await _sts_problem(session, sts_id, now)
                if reason is None and (user is None or user.disabled):
                    reason = "the user of the STS credentials is disabled"
            actor = user.username if user else sts_id
            principal = await self._admit(session, user, reason, actor, "sts", address)
        assert cred is not None  # no credentials: refused above
        return Authenticated(principal, "sts", sts_id, cred.expires_at)


async def _user_by_id(session: Any, user_id: str) -> User | None:
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        return None
    return await sq.find_user_by_id(session, uid)


async def _sts_problem(session: Any, sts_id: str, now: datetime) -> str | None:
    """Why STS credentials no longer work (expired, parent key disabled or gone), or None."""
    cred = await cq.find_sts_credential(session, sts_id)
    if cred is None:
        return "the STS credentials no longer exist (their access key was deleted)"
    if cred.expires_at <= now:
        return f"the STS credentials expired at {cred.expires_at.isoformat()}"
    if cred.access_key_id is not None:
        key = await cq.find_access_key(session, cred.access_key_id)
        if key is None:
            return "the access key of the STS credentials was deleted"
        if key.status != "active":
            return f"the access key {key.id} of the STS credentials is disabled"
    return None


def secret_hash_key(master: MasterKey) -> bytes:
    """The HMAC key for access-key and STS secrets, derived from the master key."""
    return hmac.new(master.raw, b"dockyard access-key secrets", hashlib.sha256).digest()


# ---- management: what the credentials API does ---------------------------------------------
