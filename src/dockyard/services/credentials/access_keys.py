"""A user's own credentials: the registry password, access keys, STS and temporary
registry credentials (issued, listed, rotated; verified by ``verification``)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio.to_thread

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import (
    DeniedError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from dockyard.metadata.models import AccessKey, StsCredential, User
from dockyard.metadata.queries import credentials as cq
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.access import AccountLookup, Principal
from dockyard.services.audit import AuditLog
from dockyard.services.credentials.rules import (
    ACCESS_KEY_PREFIX,
    MAX_ACCESS_KEYS,
    STS_MAX_SECONDS,
    STS_MIN_SECONDS,
    STS_PREFIX,
    TEMP_CREDENTIAL_SECONDS,
    TEMP_USERNAME,
    random_alnum,
)
from dockyard.services.credentials.tokens import (
    TokenService,
)
from dockyard.services.credentials.verification import CredentialVerifier
from dockyard.services.credentials.views import (
    AccessKeyView,
    Authenticated,
    NewAccessKey,
    StsIssued,
    TemporaryCredentials,
)
from dockyard.services.passwords import (
    check_registry_password,
    hash_password,
)


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
        accounts: AccountLookup,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._verifier = verifier
        self._audit = audit
        self._clock = clock
        self._accounts = accounts

    async def user_arn(self, username: str) -> str:
        """``acs:ram::$account:user/$username`` (the resource of the user's credentials)."""
        return await self._accounts.ram_arn(f"user/{username}")

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
        secret = random_alnum(40)
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
                id=ACCESS_KEY_PREFIX + random_alnum(22),
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
        sts_id = STS_PREFIX + random_alnum(24)
        secret = random_alnum(40)
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
