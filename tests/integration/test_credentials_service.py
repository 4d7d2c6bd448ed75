"""services.credentials (with its rate limit) in process, on SQLite and PostgreSQL, with a
ManualClock: expiry is tested by moving the clock, never by sleeping."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from dockyard.clock import ManualClock
from dockyard.errors import (
    AuthenticationError,
    DeniedError,
    InvalidInputError,
    LimitExceededError,
    TooManyRequestsError,
)
from dockyard.metadata import migrate
from dockyard.metadata.models import AccessKey, AuditEvent, LogonPolicy, Role, User, UserRole
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.access import AccountLookup, Principal
from dockyard.services.audit import AuditLog
from dockyard.services.credentials import (
    MAX_ACCESS_KEYS,
    TEMP_USERNAME,
    Authenticated,
    AuthRateLimiter,
    CredentialsService,
    CredentialVerifier,
    TokenService,
)
from dockyard.services.passwords import LOCKOUT_THRESHOLD, check_registry_password, hash_password
from dockyard.services.secrets import MasterKey
from dockyard.services.setup import first_start

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "Admin-pass-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
        return url
    return str(request.getfixturevalue("pg_migrated_url"))


class World:
    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.master = MasterKey(secrets.token_bytes(32))
        self.clock = ManualClock()
        self.tokens = TokenService(
            self.db, self.master, issuer="dockyard", service="dockyard", ttl=300, clock=self.clock
        )
        self.audit = AuditLog(self.db, self.clock)
        self.limiter = AuthRateLimiter(self.db, limit=3, window_seconds=60, clock=self.clock)
        self.accounts = AccountLookup(self.db)
        self.verifier = CredentialVerifier(
            self.db,
            self.master,
            tokens=self.tokens,
            audit=self.audit,
            accounts=self.accounts,
            limiter=self.limiter,
            clock=self.clock,
        )
        self.service = CredentialsService(
            self.db,
            self.tokens,
            self.verifier,
            audit=self.audit,
            accounts=self.accounts,
            clock=self.clock,
        )

    async def setup(self) -> None:
        await first_start(self.db, self.master, ADMIN_PASSWORD)
        await self.tokens.load_keys()
        self.admin = await self.verifier.verify("admin", ADMIN_PASSWORD)

    async def add_user(self, name: str, **fields: Any) -> User:
        async with self.db.write() as s:
            account = await tq.find_account(s)
            assert account is not None
            user = User(
                account_id=account.id,
                username=name,
                display_name=name,
                password_hash=hash_password("Console-pass-1"),
                **fields,
            )
            s.add(user)
            await s.flush()
            return user

    async def set_user(self, name: str, **values: Any) -> None:
        async with self.db.write() as s:
            await s.execute(update(User).where(User.username == name).values(**values))

    async def audit_rows(self) -> list[AuditEvent]:
        async with self.db.read() as s:
            return list((await s.execute(select(AuditEvent))).scalars().all())


def run(url: str, body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World(url)
        try:
            await world.setup()
            await body(world)
        finally:
            await world.db.dispose()

    asyncio.run(main())


def test_registry_password_rules() -> None:
    check_registry_password("abcdefg1", "abcdefg1")
    check_registry_password("ABCDEFG!", "ABCDEFG!")
    for bad in ("short1A", "abcdefgh", "ABCDEFGH", "12345678", "x" * 65 + "A"):
        with pytest.raises(InvalidInputError):
            check_registry_password(bad, bad)
    with pytest.raises(InvalidInputError, match="confirm"):
        check_registry_password("abcdefg1", "abcdefg2")


def test_reset_registry_password_refuses_the_old_one_at_once(db_url: str) -> None:
    async def body(w: World) -> None:
        await w.add_user("alice")
        await w.service.set_registry_password(w.admin, "alice", "Old-pass-1", "Old-pass-1")
        alice = await w.verifier.verify("alice", "Old-pass-1", address="10.0.0.1")
        assert alice.name == "alice"
        # A cache hit still reads the permissions fresh: a role granted now counts now.
        async with w.db.write() as s:
            user = (await s.execute(select(User).where(User.username == "alice"))).scalar_one()
            role = (await s.execute(select(Role).where(Role.name == "Administrator"))).scalar_one()
            s.add(UserRole(user_id=user.id, role_id=role.id))
        again = await w.verifier.verify("alice", "Old-pass-1", address="10.0.0.1")
        assert len(again.policies) == len(alice.policies) + 1
        # Cached now; a reset (as if by another worker: the cache is not told) ends it at once.
        other = CredentialsService(
            w.db,
            w.tokens,
            CredentialVerifier(w.db, w.master, audit=w.audit, accounts=AccountLookup(w.db)),
            audit=w.audit,
            accounts=AccountLookup(w.db),
        )
        await other.set_registry_password(w.admin, "alice", "New-pass-2", "New-pass-2")
        with pytest.raises(AuthenticationError):
            await w.verifier.verify("alice", "Old-pass-1", address="10.0.0.1")
        assert (await w.verifier.verify("alice", "New-pass-2")).name == "alice"
        # The console password is a different credential.
        with pytest.raises(AuthenticationError):
            await w.verifier.verify("alice", "Console-pass-1", address="10.0.0.2")
        # Disabled: refused even though the pair is cached.
        await w.set_user("alice", disabled=True)
        with pytest.raises(AuthenticationError):
            await w.verifier.verify("alice", "New-pass-2", address="10.0.0.3")
        rows = await w.audit_rows()
        changes = [r for r in rows if r.action == "ram:SetRegistryPassword"]
        assert len(changes) == 2 and all(r.outcome == "success" for r in changes)
        failures = [r for r in rows if r.action == "authenticate" and r.outcome == "failure"]
        assert {r.source_ip for r in failures} >= {"10.0.0.1", "10.0.0.2"}
        for r in rows:
            assert "Old-pass-1" not in str(r.detail) and "New-pass-2" not in str(r.detail)

    run(db_url, body)


def test_temporary_credentials_expire_after_an_hour(db_url: str) -> None:
    async def body(w: World) -> None:
        user = await w.add_user("bob")
        bob = await w.verifier.principal_for_user_id("bob", str(user.id))
        temp = await w.service.authorization_token(Authenticated(bob, "session"))
        assert temp.username == TEMP_USERNAME
        assert temp.expires_at - w.clock.now() <= timedelta(hours=1)
        assert temp.expires_at - w.clock.now() > timedelta(minutes=59)
        assert (await w.verifier.verify(TEMP_USERNAME, temp.password)).name == "bob"
        # Tampered: refused.
        head, payload, sig = temp.password.split(".")
        forged = f"{head}.{payload}.{sig[:-4]}AAAA"
        with pytest.raises(AuthenticationError):
            await w.verifier.verify(TEMP_USERNAME, forged)
        w.clock.advance(timedelta(minutes=59))
        assert (await w.verifier.verify(TEMP_USERNAME, temp.password)).name == "bob"
        w.clock.advance(timedelta(minutes=2))
        with pytest.raises(AuthenticationError, match=r"expired|invalid"):
            await w.verifier.verify(TEMP_USERNAME, temp.password, address="10.9.9.9")

        # A disabled user's temporary credentials stop working at once.
        fresh = await w.service.authorization_token(Authenticated(bob, "session"))
        await w.set_user("bob", disabled=True)
        with pytest.raises(AuthenticationError, match="disabled"):
            await w.verifier.verify(TEMP_USERNAME, fresh.password, address="10.9.9.8")

    run(db_url, body)


def test_access_keys_lifecycle(db_url: str) -> None:
    async def body(w: World) -> None:
        await w.add_user("carol")
        made = await w.service.create_access_key(w.admin, "carol", "ci")
        assert made.key.id.startswith("AK") and len(made.key.id) == 24
        assert len(made.secret) == 40
        auth = await w.verifier.authenticate_access_key(made.key.id, made.secret)
        assert auth.principal.name == "carol" and auth.method == "access-key"
        with pytest.raises(AuthenticationError):
            await w.verifier.authenticate_access_key(made.key.id, made.secret[::-1])

        # last_used_at: set on first use, then at most once a minute.
        listed = await w.service.list_access_keys("carol")
        first_use = listed[0].last_used_at
        assert first_use is not None
        w.clock.advance(timedelta(seconds=30))
        await w.verifier.authenticate_access_key(made.key.id, made.secret)
        assert (await w.service.list_access_keys("carol"))[0].last_used_at == first_use
        w.clock.advance(timedelta(seconds=31))
        await w.verifier.authenticate_access_key(made.key.id, made.secret)
        assert (await w.service.list_access_keys("carol"))[0].last_used_at != first_use

        # The secret is stored hashed only.
        async with w.db.read() as s:
            row = await s.get(AccessKey, made.key.id)
            assert row is not None and made.secret not in row.secret_hash

        await w.service.update_access_key(w.admin, "carol", made.key.id, "disabled")
        with pytest.raises(AuthenticationError, match="disabled"):
            await w.verifier.authenticate_access_key(made.key.id, made.secret)
        await w.service.update_access_key(w.admin, "carol", made.key.id, "active")
        await w.verifier.authenticate_access_key(made.key.id, made.secret)

        for _ in range(MAX_ACCESS_KEYS - 1):
            await w.service.create_access_key(w.admin, "carol")
        with pytest.raises(LimitExceededError):
            await w.service.create_access_key(w.admin, "carol")

        await w.service.delete_access_key(w.admin, "carol", made.key.id)
        with pytest.raises(AuthenticationError):
            await w.verifier.authenticate_access_key(made.key.id, made.secret)
        assert len(await w.service.list_access_keys("carol")) == MAX_ACCESS_KEYS - 1

    run(db_url, body)


def test_sts_credentials_end_with_expiry_and_with_their_access_key(db_url: str) -> None:
    async def body(w: World) -> None:
        await w.add_user("dave")
        key = await w.service.create_access_key(w.admin, "dave")
        via_key = await w.verifier.authenticate_access_key(key.key.id, key.secret)

        # Only an access key may ask for STS credentials; duration bounds.
        with pytest.raises(DeniedError, match="access key"):
            await w.service.issue_sts(Authenticated(via_key.principal, "session"), 900)
        for bad in (899, 43201):
            with pytest.raises(InvalidInputError):
                await w.service.issue_sts(via_key, bad)

        sts = await w.service.issue_sts(via_key, 900)
        assert sts.access_key_id.startswith("STS.")
        auth = await w.verifier.authenticate_sts(
            sts.access_key_id, sts.access_key_secret, sts.security_token
        )
        assert auth.principal.name == "dave" and auth.expires_at == sts.expiration
        with pytest.raises(AuthenticationError):
            await w.verifier.authenticate_sts(sts.access_key_id, "wrong", sts.security_token)
        other = await w.service.issue_sts(via_key, 900)
        with pytest.raises(AuthenticationError):  # another credential's security token
            await w.verifier.authenticate_sts(
                sts.access_key_id, sts.access_key_secret, other.security_token
            )

        # Temporary registry credentials asked with STS end with the STS credentials.
        temp = await w.service.authorization_token(auth)
        assert temp.expires_at == sts.expiration
        assert (await w.verifier.verify(TEMP_USERNAME, temp.password)).name == "dave"

        w.clock.advance(timedelta(seconds=901))
        with pytest.raises(AuthenticationError):
            await w.verifier.authenticate_sts(
                sts.access_key_id, sts.access_key_secret, sts.security_token
            )
        with pytest.raises(AuthenticationError):
            await w.verifier.verify(TEMP_USERNAME, temp.password, address="10.1.1.1")

        # Disabling the parent key ends its STS credentials (and temp creds made with them).
        sts2 = await w.service.issue_sts(via_key, 3600)
        auth2 = await w.verifier.authenticate_sts(
            sts2.access_key_id, sts2.access_key_secret, sts2.security_token
        )
        temp2 = await w.service.authorization_token(auth2)
        await w.service.update_access_key(w.admin, "dave", key.key.id, "disabled")
        with pytest.raises(AuthenticationError, match="disabled"):
            await w.verifier.authenticate_sts(
                sts2.access_key_id, sts2.access_key_secret, sts2.security_token
            )
        with pytest.raises(AuthenticationError, match="disabled"):
            await w.verifier.verify(TEMP_USERNAME, temp2.password, address="10.1.1.2")
        # Deleting it too.
        await w.service.update_access_key(w.admin, "dave", key.key.id, "active")
        await w.verifier.authenticate_sts(
            sts2.access_key_id, sts2.access_key_secret, sts2.security_token
        )
        await w.service.delete_access_key(w.admin, "dave", key.key.id)
        with pytest.raises(AuthenticationError):
            await w.verifier.authenticate_sts(
                sts2.access_key_id, sts2.access_key_secret, sts2.security_token
            )

    run(db_url, body)


def test_rate_limit_is_per_address_and_never_locks_the_account(db_url: str) -> None:
    async def body(w: World) -> None:
        attacker, admin_host = "192.0.2.66", "198.51.100.7"
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                await w.verifier.verify("admin", "wrong-password", address=attacker)
        with pytest.raises(TooManyRequestsError) as refused:
            await w.verifier.verify("admin", "wrong-password-2", address=attacker)
        assert 0 < refused.value.retry_after <= 60
        # The right password from the attacking address is refused too (no oracle) ...
        with pytest.raises(TooManyRequestsError):
            await w.verifier.verify("nobody", ADMIN_PASSWORD, address=attacker)
        # ... and the administrator elsewhere is unaffected.
        assert (await w.verifier.verify("admin", ADMIN_PASSWORD, address=admin_host)).name
        w.clock.advance(timedelta(seconds=61))
        assert (await w.verifier.verify("admin", ADMIN_PASSWORD, address=attacker)).name

    run(db_url, body)


def test_session_epoch_ends_sessions(db_url: str) -> None:
    async def body(w: World) -> None:
        await w.add_user("erin")
        erin = await w.verifier.verify_console("erin", "Console-pass-1")
        token, _ = await w.verifier.issue_session(erin)
        name, uid, epoch = w.tokens.verify_session(token)
        assert (await w.verifier.principal_for_session(name, uid, epoch)).name == "erin"
        await w.set_user("erin", session_epoch=epoch + 1)
        with pytest.raises(AuthenticationError, match="sign in again"):
            await w.verifier.principal_for_session(name, uid, epoch)

    run(db_url, body)


def test_logon_policy_applies_to_registry_credentials(db_url: str) -> None:
    async def body(w: World) -> None:
        async with w.db.write() as s:
            account = await tq.find_account(s)
            assert account is not None
            policy = LogonPolicy(account_id=account.id, name="office", cidrs=["10.0.0.0/8"])
            s.add(policy)
            await s.flush()
            policy_id = policy.id
        user = await w.add_user(
            "frank", registry_password_hash=hash_password("Frank-pass-1"), logon_policy_id=policy_id
        )
        assert (await w.verifier.verify("frank", "Frank-pass-1", address="10.2.3.4")).name
        with pytest.raises(AuthenticationError, match="logon policy"):
            await w.verifier.verify("frank", "Frank-pass-1", address="192.0.2.1")
        frank = Principal(name="frank", user_id=str(user.id))
        temp = await w.service.authorization_token(Authenticated(frank, "session"))
        with pytest.raises(AuthenticationError, match="logon policy"):
            await w.verifier.verify(TEMP_USERNAME, temp.password, address="192.0.2.1")
        assert (await w.verifier.verify(TEMP_USERNAME, temp.password, address="10.0.0.9")).name
        rows = await w.audit_rows()
        assert any(r.outcome == "denied" and r.source_ip == "192.0.2.1" for r in rows)
        assert uuid.UUID(str(user.id))

    run(db_url, body)


def test_refresh_tokens_never_outlive_their_login(db_url: str) -> None:
    async def body(w: World) -> None:
        user = await w.add_user("gina")
        await w.service.set_registry_password(w.admin, "gina", "Gina-pass-1", "Gina-pass-1")

        async def refresh(token: str) -> str:
            claims = w.tokens.verify_refresh_claims(token)
            principal = await w.verifier.principal_for_user_id(
                claims.username, claims.user_id, refresh=claims
            )
            return principal.name

        # From the registry password: dies when the password is reset.
        login = await w.verifier.login("gina", "Gina-pass-1")
        token = w.tokens.issue_refresh(login.principal, "default", login)
        assert await refresh(token) == "gina"
        w.clock.advance(timedelta(seconds=2))
        await w.service.set_registry_password(w.admin, "gina", "Gina-pass-2", "Gina-pass-2")
        with pytest.raises(AuthenticationError, match="password changed"):
            await refresh(token)

        # From temporary credentials: expires with them.
        gina = Principal(name="gina", user_id=str(user.id))
        temp = await w.service.authorization_token(Authenticated(gina, "session"))
        login = await w.verifier.login(TEMP_USERNAME, temp.password)
        token = w.tokens.issue_refresh(login.principal, "default", login)
        assert await refresh(token) == "gina"
        w.clock.advance(timedelta(hours=1, seconds=1))
        with pytest.raises(AuthenticationError):
            await refresh(token)

        # From STS-derived temporary credentials: dies with the access key.
        key = await w.service.create_access_key(w.admin, "gina")
        via_key = await w.verifier.authenticate_access_key(key.key.id, key.secret)
        sts = await w.service.issue_sts(via_key, 3600)
        auth = await w.verifier.authenticate_sts(
            sts.access_key_id, sts.access_key_secret, sts.security_token
        )
        temp = await w.service.authorization_token(auth)
        login = await w.verifier.login(TEMP_USERNAME, temp.password)
        token = w.tokens.issue_refresh(login.principal, "default", login)
        assert await refresh(token) == "gina"
        await w.service.update_access_key(w.admin, "gina", key.key.id, "disabled")
        with pytest.raises(AuthenticationError, match="disabled"):
            await refresh(token)

    run(db_url, body)


def test_console_basic_counts_towards_and_obeys_the_sign_in_lockout(db_url: str) -> None:
    async def body(w: World) -> None:

        await w.add_user("hank")
        for _ in range(LOCKOUT_THRESHOLD):
            with pytest.raises(AuthenticationError, match="invalid"):
                await w.verifier.verify_console("hank", "Wrong-pass-1")
        with pytest.raises(AuthenticationError, match="locked"):
            await w.verifier.verify_console("hank", "Console-pass-1")
        # The registry password is a separate credential: never locked by console failures.
        await w.service.set_registry_password(w.admin, "hank", "Hank-reg-1", "Hank-reg-1")
        assert (await w.verifier.verify("hank", "Hank-reg-1")).name == "hank"
        w.clock.advance(timedelta(minutes=16))
        assert (await w.verifier.verify_console("hank", "Console-pass-1")).name == "hank"

    run(db_url, body)
