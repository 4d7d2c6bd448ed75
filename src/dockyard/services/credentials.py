"""Credentials: registry passwords, temporary registry credentials, access keys, STS
credentials, session and Docker registry tokens.

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

Every principal is built by :func:`dockyard.services.principals.load_principal`; disabled
users are refused everywhere. Logon policies (:mod:`dockyard.services.logon`) apply to the
registry password, temporary credentials, refresh tokens and console-password Basic.
Failed authentications and credential changes are written to the audit log (never the
secret).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import string
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import (
    AuthenticationError,
    DeniedError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from dockyard.metadata.models import AccessKey, LogonPolicy, SigningKey, StsCredential, User
from dockyard.metadata.queries import credentials as cq
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import signin as sq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.access import Principal
from dockyard.services.audit import AuditLog
from dockyard.services.logon import logon_denial
from dockyard.services.principals import load_principal, ram_arn
from dockyard.services.ratelimit import AuthRateLimiter
from dockyard.services.secrets import MasterKey

BASIC_CACHE_SECONDS = 30
BASIC_CACHE_ENTRIES = 1024
REFRESH_TOKEN_SECONDS = 7 * 24 * 3600
#: Lifetime of a management API session token (``POST /api/v1/auth/signin``).
SESSION_TOKEN_SECONDS = 12 * 3600
SIGNING_PURPOSE = "token-signing-key"

#: The user name of temporary registry credentials (``docker login -u cr_temp_user``).
TEMP_USERNAME = "cr_temp_user"
#: Lifetime of temporary registry credentials (PRODUCT.md §4), unless STS ends sooner.
TEMP_CREDENTIAL_SECONDS = 3600
#: Access keys a user may hold at once (design).
MAX_ACCESS_KEYS = 5
ACCESS_KEY_PREFIX = "AK"
STS_PREFIX = "STS."
STS_MIN_SECONDS, STS_MAX_SECONDS, STS_DEFAULT_SECONDS = 900, 43200, 3600
#: ``last_used_at`` of an access key is written at most this often.
LAST_USED_GRANULARITY = timedelta(seconds=60)

ACCESS_KEY_ID_RE = re.compile(r"^AK[A-Za-z0-9]{22}$")
_ALNUM = string.ascii_letters + string.digits

#: Registry password rule (design): 8-64 characters, at least two of lower-case letters,
#: upper-case letters, digits and symbols.
REGISTRY_PASSWORD_MIN, REGISTRY_PASSWORD_MAX = 8, 64

_hasher = PasswordHasher()

Method = Literal[
    "registry-password",
    "temporary",
    "console-password",
    "session",
    "refresh-token",
    "access-key",
    "sts",
]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: argon2 is deliberately slow and memory-hungry."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify_password(hashed: str | None, password: str) -> bool:
    """Constant-work check: an unknown user costs the same argon2 run as a known one."""
    try:
        return _hasher.verify(hashed or _dummy_hash(), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def _random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def check_registry_password(password: str, confirm: str) -> None:
    """The registry password rule; :class:`InvalidInputError` says what is wrong."""
    if password != confirm:
        raise InvalidInputError("password and confirm do not match", detail={"field": "confirm"})
    if not REGISTRY_PASSWORD_MIN <= len(password) <= REGISTRY_PASSWORD_MAX:
        raise InvalidInputError(
            f"the registry password must be {REGISTRY_PASSWORD_MIN}-{REGISTRY_PASSWORD_MAX} "
            "characters long",
            detail={"field": "password"},
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise InvalidInputError(
            "the registry password must not contain control characters",
            detail={"field": "password"},
        )
    classes = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < 2:
        raise InvalidInputError(
            "the registry password needs at least two of: lower-case letters, upper-case "
            "letters, digits, symbols",
            detail={"field": "password"},
        )


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A principal and how it proved who it is (the API needs the how: STS is issued only
    to access keys, temporary credentials end with the STS credentials used)."""

    principal: Principal
    method: Method
    #: The access key or STS id the caller used.
    credential_id: str | None = None
    #: When the credential ends by itself (STS, temporary credentials), else None.
    expires_at: datetime | None = None
    #: The registry password's version (its change time) when that was the credential:
    #: refresh tokens made from it die when it changes.
    password_version: int | None = None


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
        self._arn_id: str | None = None

    # -- helpers ------------------------------------------------------------------------------
    async def _account_arn_id(self, session: Any) -> str:
        if self._arn_id is None:
            account = await tq.find_account(session)
            if account is None:
                raise AuthenticationError("no account: the first-start setup has not run")
            self._arn_id = account.arn_id
        return self._arn_id

    async def _audit_failure(
        self,
        actor: str,
        method: Method,
        address: str | None,
        reason: str,
        *,
        face: str,
        outcome: Literal["failure", "denied"] = "failure",
        actor_id: uuid.UUID | str | None = None,
    ) -> None:
        await self._audit.record(
            actor=(actor or "anonymous")[:64],  # whatever the caller typed, within the column
            actor_id=actor_id,
            action="authenticate",
            outcome=outcome,
            source_ip=address or "",
            resource=face,
            detail={"method": method, "reason": reason},
        )

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
        await self._audit_failure(actor, method, address, reason, face=face)
        if face == "registry" and self._limiter is not None:
            await self._limiter.record_failure(address)
        return AuthenticationError(message or reason)

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
        await self._audit_failure(
            user.username, method, address, reason, face=face, outcome="denied", actor_id=user.id
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
                user = await cq.find_user_by_id(session, hit.user_id)
                current = None
                if user is not None and not user.disabled:
                    current = user.password_hash if console else user.registry_password_hash
                fresh = None
                if user is not None and current == hit.hashed:
                    policy = await cq.find_logon_policy(session, user.logon_policy_id)
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
        ok = await anyio.to_thread.run_sync(_verify_password, hashed, password)
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
        # Imported here: services.signin imports this module.
        from dockyard.services.signin import LOCKOUT_DURATION, LOCKOUT_THRESHOLD

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
            policy = await cq.find_logon_policy(session, user.logon_policy_id)
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
            user = await cq.find_user_by_id(session, uuid.UUID(user_id))
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
            policy = await cq.find_logon_policy(session, user.logon_policy_id)
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
            policy = await cq.find_logon_policy(session, user.logon_policy_id) if logon else None
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
            if user is None or reason is not None:
                raise await self._fail(
                    username,
                    "session",
                    address,
                    reason or "refused",
                    face="api",
                    message=f"{reason}; sign in again",
                )
            principal = await load_principal(session, user, await self._account_arn_id(session))
        return principal

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
            user = await cq.find_user_by_id(session, key.user_id) if key else None
            reason = None
            if key is None or not hmac.compare_digest(self.secret_hash(secret), key.secret_hash):
                reason = "invalid AccessKey ID or secret"
            elif key.status != "active":
                reason = f"the access key {key_id} is disabled"
            elif user is None or user.disabled:
                reason = "the access key's user is disabled"
            if reason is not None or user is None or key is None:
                raise await self._fail(
                    user.username if user else key_id,
                    "access-key",
                    address,
                    reason or "refused",
                    face="api",
                )
            principal = await load_principal(session, user, await self._account_arn_id(session))
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
            user = await cq.find_user_by_id(session, cred.user_id) if cred else None
            reason = None
            if cred is None or not hmac.compare_digest(self.secret_hash(secret), cred.secret_hash):
                reason = "invalid STS credentials"
            else:
                reason = await _sts_problem(session, sts_id, now)
                if reason is None and (user is None or user.disabled):
                    reason = "the user of the STS credentials is disabled"
            if reason is not None or user is None or cred is None:
                raise await self._fail(
                    user.username if user else sts_id,
                    "sts",
                    address,
                    reason or "refused",
                    face="api",
                )
            principal = await load_principal(session, user, await self._account_arn_id(session))
        return Authenticated(principal, "sts", sts_id, cred.expires_at)


async def _user_by_id(session: Any, user_id: str) -> User | None:
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        return None
    return await cq.find_user_by_id(session, uid)


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


@dataclass(frozen=True, slots=True)
class AccessKeyView:
    id: str
    username: str
    status: str
    description: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    key: AccessKeyView
    secret: str


@dataclass(frozen=True, slots=True)
class StsIssued:
    access_key_id: str
    access_key_secret: str
    security_token: str
    expiration: datetime


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    username: str
    password: str
    expires_at: datetime


def _view(key: AccessKey, username: str) -> AccessKeyView:
    return AccessKeyView(
        key.id, username, key.status, key.description, key.created_at, key.last_used_at
    )


class CredentialsService:
    """Registry passwords, access keys, STS and temporary credentials (the API's side).

    Authorization is the caller's (the route's guard); this service checks the rules.
    """

    def __init__(
        self,
        db: Database,
        tokens: TokenService,
        verifier: CredentialVerifier,
        *,
        audit: AuditLog,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._verifier = verifier
        self._audit = audit
        self._clock = clock
        self._arn_id: str | None = None

    async def user_arn(self, username: str) -> str:
        """``acs:ram::$account:user/$username`` (the resource of the user's credentials)."""
        if self._arn_id is None:
            async with self._db.read() as session:
                account = await tq.find_account(session)
                if account is None:
                    raise NotFoundError("no account: the first-start setup has not run")
                self._arn_id = account.arn_id
        return ram_arn(self._arn_id, f"user/{username}")

    async def _user(self, session: Any, username: str) -> User:
        account = await tq.find_account(session)
        user = await q.find_user(session, account.id, username) if account else None
        if user is None:
            raise NotFoundError(f"no user named {username!r}")
        return user

    async def _record(
        self,
        session: Any,
        actor: Principal,
        action: str,
        resource: str,
        address: str | None,
        detail: dict[str, Any],
    ) -> None:
        await self._audit.add(
            session,
            actor=actor.name,
            actor_id=actor.user_id,
            action=action,
            outcome="success",
            source_ip=address or "",
            resource=resource,
            detail=detail,
        )

    async def set_registry_password(
        self,
        actor: Principal,
        username: str,
        password: str,
        confirm: str,
        *,
        address: str | None = None,
    ) -> None:
        check_registry_password(password, confirm)
        hashed = await anyio.to_thread.run_sync(hash_password, password)
        resource = await self.user_arn(username)
        async with self._db.write() as session:
            user = await self._user(session, username)
            await cq.set_registry_password(session, user.id, hashed, self._clock.now())
            await self._record(
                session,
                actor,
                "ram:SetRegistryPassword",
                resource,
                address,
                {"user": username, "reset": actor.user_id != str(user.id)},
            )
        self._verifier.forget_user(user.id)

    async def create_access_key(
        self, actor: Principal, username: str, description: str = "", *, address: str | None = None
    ) -> NewAccessKey:
        secret = _random_alnum(40)
        resource = await self.user_arn(username)
        async with self._db.write() as session:
            user = await self._user(session, username)
            if await cq.count_access_keys(session, user.id) >= MAX_ACCESS_KEYS:
                raise LimitExceededError(
                    f"{username} already has {MAX_ACCESS_KEYS} access keys, the most a user "
                    "may hold; delete one first",
                    detail={"limit": MAX_ACCESS_KEYS},
                )
            key = AccessKey(
                id=ACCESS_KEY_PREFIX + _random_alnum(22),
                user_id=user.id,
                secret_hash=self._verifier.secret_hash(secret),
                status="active",
                description=description,
                created_at=self._clock.now(),
            )
            cq.add_access_key(session, key)
            await session.flush()
            await self._record(
                session,
                actor,
                "ram:CreateAccessKey",
                resource,
                address,
                {"user": username, "accessKeyId": key.id},
            )
            view = _view(key, username)
        return NewAccessKey(view, secret)

    async def list_access_keys(self, username: str) -> list[AccessKeyView]:
        async with self._db.read() as session:
            user = await self._user(session, username)
            return [_view(k, username) for k in await cq.access_keys_of_user(session, user.id)]

    async def _key_of(self, session: Any, username: str, key_id: str) -> AccessKey:
        user = await self._user(session, username)
        key = await cq.find_access_key(session, key_id)
        if key is None or key.user_id != user.id:
            raise NotFoundError(f"{username} has no access key {key_id!r}")
        return key

    async def update_access_key(
        self,
        actor: Principal,
        username: str,
        key_id: str,
        status: str,
        *,
        address: str | None = None,
    ) -> AccessKeyView:
        if status not in ("active", "disabled"):
            raise InvalidInputError("status must be active or disabled", detail={"field": "status"})
        resource = await self.user_arn(username)
        async with self._db.write() as session:
            key = await self._key_of(session, username, key_id)
            await cq.set_access_key_status(session, key_id, status)
            key.status = status
            await self._record(
                session,
                actor,
                "ram:UpdateAccessKey",
                resource,
                address,
                {"user": username, "accessKeyId": key_id, "status": status},
            )
            return _view(key, username)

    async def delete_access_key(
        self, actor: Principal, username: str, key_id: str, *, address: str | None = None
    ) -> None:
        resource = await self.user_arn(username)
        async with self._db.write() as session:
            await self._key_of(session, username, key_id)
            await cq.delete_access_key(session, key_id)
            await self._record(
                session,
                actor,
                "ram:DeleteAccessKey",
                resource,
                address,
                {"user": username, "accessKeyId": key_id},
            )

    async def issue_sts(
        self, caller: Authenticated, duration_seconds: int, *, address: str | None = None
    ) -> StsIssued:
        if caller.method != "access-key" or caller.credential_id is None:
            raise DeniedError(
                "STS credentials are issued only to callers authenticated with an access key "
                "(Authorization: Basic base64(AccessKeyId:AccessKeySecret))"
            )
        if not STS_MIN_SECONDS <= duration_seconds <= STS_MAX_SECONDS:
            raise InvalidInputError(
                f"durationSeconds must be {STS_MIN_SECONDS}-{STS_MAX_SECONDS}",
                detail={"field": "durationSeconds"},
            )
        user_id = caller.principal.user_id
        assert user_id is not None
        now = self._clock.now()
        expiration = (now + timedelta(seconds=duration_seconds)).replace(microsecond=0)
        sts_id = STS_PREFIX + _random_alnum(24)
        secret = _random_alnum(40)
        async with self._db.write() as session:
            await cq.delete_expired_sts(session, now - timedelta(days=1))
            cq.add_sts_credential(
                session,
                StsCredential(
                    id=sts_id,
                    user_id=uuid.UUID(user_id),
                    access_key_id=caller.credential_id,
                    secret_hash=self._verifier.secret_hash(secret),
                    expires_at=expiration,
                    created_at=now,
                ),
            )
            await self._record(
                session,
                caller.principal,
                "sts:GetSessionToken",
                "*",
                address,
                {
                    "accessKeyId": caller.credential_id,
                    "stsId": sts_id,
                    "expiration": expiration.isoformat(),
                },
            )
        token = self._tokens.issue_security_token(sts_id, user_id, expiration)
        return StsIssued(sts_id, secret, token, expiration)

    async def authorization_token(
        self, caller: Authenticated, *, address: str | None = None
    ) -> TemporaryCredentials:
        """Temporary registry credentials: 1 hour, or until the caller's STS ends."""
        principal = caller.principal
        if principal.user_id is None:
            raise DeniedError("temporary credentials are only for users")
        now = self._clock.now()
        expires = (now + timedelta(seconds=TEMP_CREDENTIAL_SECONDS)).replace(microsecond=0)
        sts_id = None
        if caller.method == "sts":
            sts_id = caller.credential_id
            if caller.expires_at is not None and caller.expires_at < expires:
                expires = caller.expires_at
        token = self._tokens.issue_temporary(principal, expires, sts_id=sts_id)
        await self._audit.record(
            actor=principal.name,
            actor_id=principal.user_id,
            action="cr:GetAuthorizationToken",
            outcome="success",
            source_ip=address or "",
            resource="*",
            detail={"expiresAt": expires.isoformat(), "via": caller.method},
        )
        return TemporaryCredentials(TEMP_USERNAME, token, expires)


# ---- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessEntry:
    type: str
    name: str
    actions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    username: str
    user_id: str
    instance_id: str
    #: The STS credentials behind the temporary credentials the token was made from.
    sts_id: str | None = None
    #: The registry password version the token was made from.
    password_version: int | None = None


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    user_id: str | None
    instance_id: str
    access: tuple[AccessEntry, ...]
    expires_at: float

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(
            e.type == type_ and e.name == name and (action in e.actions or "*" in e.actions)
            for e in self.access
        )


class TokenService:
    """Issues and verifies registry tokens (Docker token authentication), session tokens,
    temporary registry credentials and STS security tokens, each with its own audience."""

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        *,
        issuer: str,
        service: str,
        ttl: int,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._master = master
        self.issuer = issuer
        self.service = service
        self.ttl = ttl
        self._clock = clock
        self._signing: ECKey | None = None
        self._keys: KeySet | None = None
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    async def load_keys(self) -> None:
        async with self._db.read() as session:
            rows = await q.active_signing_keys(session)
        if not rows:
            raise AuthenticationError("no token signing key; run the first-start setup")
        keys = [
            ECKey.import_key(
                self._master.decrypt(row.private_key_encrypted, SIGNING_PURPOSE),
                parameters={"kid": row.kid},
            )
            for row in rows
        ]
        self._signing = keys[-1]
        self._keys = KeySet(keys)  # type: ignore[arg-type]

    def public_jwks(self) -> dict[str, Any]:
        assert self._keys is not None
        return {"keys": [k.as_dict(private=False) for k in self._keys.keys]}

    def _sign(self, claims: dict[str, Any]) -> str:
        assert self._signing is not None
        header = {"alg": "ES256", "typ": "JWT", "kid": self._signing.kid}
        return jwt.encode(header, claims, self._signing, algorithms=["ES256"])

    def issue(
        self, principal: Principal, instance_id: str, access: Sequence[AccessEntry]
    ) -> tuple[str, int]:
        now = self._now()
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": self.service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "ins": instance_id,
            "uid": principal.user_id,
            "access": [a.to_json() for a in access],
        }
        return self._sign(claims), self.ttl

    def issue_refresh(
        self, principal: Principal, instance_id: str, login: Authenticated | None = None
    ) -> str:
        """A refresh token (OAuth2 offline access); it never outlives the credential it was
        made from: temporary credentials' expiry, STS validity, the registry password."""
        now = self._now()
        expires = now + REFRESH_TOKEN_SECONDS
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:refresh",
            "iat": now,
            "jti": uuid.uuid4().hex,
            "ins": instance_id,
            "uid": principal.user_id,
        }
        if login is not None:
            if login.expires_at is not None:
                expires = min(expires, int(login.expires_at.timestamp()))
            if login.method == "temporary" and login.credential_id is not None:
                claims["sts"] = login.credential_id
            if login.password_version is not None:
                claims["pwv"] = login.password_version
        claims["exp"] = expires
        return self._sign(claims)

    def issue_session(self, principal: Principal, *, epoch: int) -> tuple[str, int]:
        """A management API session token (its own audience: never a registry token).

        ``epoch`` is the user's ``session_epoch`` now; the token dies when it moves on
        (``CredentialVerifier.issue_session`` reads it for you).
        """
        now = self._now()
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:api",
            "iat": now,
            "nbf": now - 5,
            "exp": now + SESSION_TOKEN_SECONDS,
            "jti": uuid.uuid4().hex,
            "uid": principal.user_id,
            "epoch": epoch,
        }
        return self._sign(claims), SESSION_TOKEN_SECONDS

    def verify_session(self, token: str) -> tuple[str, str, int]:
        """(user name, user id, session epoch) of a management API session token."""
        claims = self._decode(token, f"{self.service}:api")
        if not claims.get("uid"):
            raise AuthenticationError("invalid token: no user")
        epoch = claims.get("epoch")
        if not isinstance(epoch, int):
            raise AuthenticationError("invalid token: no session epoch; sign in again")
        return str(claims["sub"]), str(claims["uid"]), epoch

    def issue_temporary(
        self, principal: Principal, expires_at: datetime, *, sts_id: str | None = None
    ) -> str:
        """The password of temporary registry credentials (user ``cr_temp_user``)."""
        now = self._now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:temp",
            "iat": now,
            "nbf": now - 5,
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            "uid": principal.user_id,
        }
        if sts_id is not None:
            claims["sts"] = sts_id
        return self._sign(claims)

    def verify_temporary(self, token: str) -> tuple[str, str | None, datetime]:
        """(user id, STS id or None, expiry) of a temporary registry password."""
        claims = self._decode(token, f"{self.service}:temp")
        uid = claims.get("uid")
        if not isinstance(uid, str) or not uid:
            raise AuthenticationError("invalid token: no user")
        sts = claims.get("sts")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return uid, sts if isinstance(sts, str) else None, expires

    def issue_security_token(self, sts_id: str, user_id: str, expires_at: datetime) -> str:
        now = self._now()
        claims = {
            "iss": self.issuer,
            "sub": sts_id,
            "aud": f"{self.service}:sts",
            "iat": now,
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            "uid": user_id,
        }
        return self._sign(claims)

    def verify_security_token(self, token: str) -> str:
        """The STS id a security token was issued for."""
        return str(self._decode(token, f"{self.service}:sts").get("sub", ""))

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        assert self._keys is not None
        try:
            decoded = jwt.decode(token, self._keys, algorithms=["ES256"])
            registry = jwt.JWTClaimsRegistry(
                now=self._now,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": audience},
                exp={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        return decoded.claims

    def verify(self, token: str) -> TokenClaims:
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > self._clock.now().timestamp():
                return cached
            del self._verified[token]
        claims = self._decode(token, self.service)
        access = tuple(
            AccessEntry(
                str(a.get("type")), str(a.get("name")), tuple(map(str, a.get("actions", [])))
            )
            for a in claims.get("access", [])
            if isinstance(a, dict)
        )
        result = TokenClaims(
            subject=str(claims.get("sub", "")),
            user_id=claims.get("uid"),
            instance_id=str(claims.get("ins", "")),
            access=access,
            expires_at=float(claims["exp"]),
        )
        self._verified[token] = result
        while len(self._verified) > 4096:
            self._verified.popitem(last=False)
        return result

    def verify_refresh(self, token: str) -> tuple[str, str, str]:
        """(user name, user id, instance id) of a refresh token."""
        found = self.verify_refresh_claims(token)
        return found.username, found.user_id, found.instance_id

    def verify_refresh_claims(self, token: str) -> RefreshClaims:
        claims = self._decode(token, f"{self.service}:refresh")
        if not claims.get("uid"):
            raise AuthenticationError("anonymous refresh tokens do not exist")
        sts, pwv = claims.get("sts"), claims.get("pwv")
        return RefreshClaims(
            str(claims["sub"]),
            str(claims["uid"]),
            str(claims.get("ins", "")),
            sts if isinstance(sts, str) else None,
            pwv if isinstance(pwv, int) else None,
        )


def new_signing_key(master: MasterKey) -> SigningKey:
    kid = uuid.uuid4().hex
    key = ECKey.generate_key("P-256", parameters={"kid": kid})
    return SigningKey(
        kid=kid,
        algorithm="ES256",
        private_key_encrypted=master.encrypt(key.as_pem(private=True), SIGNING_PURPOSE),
        public_jwk=key.as_dict(private=False),
    )
