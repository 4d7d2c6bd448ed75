"""services.signin in process, on SQLite and PostgreSQL, with a ManualClock: lockout and its
expiry, logon policies (time windows across midnight, CIDRs), the forced password change,
MFA binding and codes (TOTP for the clock's time, replay), password change and reset,
sign-out, and the audit rows of each. Nothing sleeps."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from dockyard.clock import ManualClock
from dockyard.errors import AuthenticationError, InvalidInputError
from dockyard.metadata import migrate
from dockyard.metadata.models import Account, AuditEvent, LogonPolicy, Organization, User
from dockyard.metadata.session import Database
from dockyard.services.access import AccountLookup
from dockyard.services.audit import AuditLog
from dockyard.services.credentials import TokenService, new_signing_key
from dockyard.services.passwords import LOCKOUT_DURATION, hash_password
from dockyard.services.secrets import MasterKey
from dockyard.services.signin import (
    MFA_SEED_PURPOSE,
    AccountLockedError,
    LogonPolicyDeniedError,
    MfaBindRequiredError,
    MfaCodeRequiredError,
    PasswordChangeRequiredError,
    SessionGrant,
    SignInService,
    UserDisabledError,
)

pytestmark = pytest.mark.integration

ACCOUNT = "1234567890123456"
PASSWORD = "Initial-pw1"
GOOD = "correct1horse"
OTHER = "battery2staple"
WRONG = "wrong-password-9"
OFFICE_IP = "10.1.2.3"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
        return url
    return str(request.getfixturevalue("pg_migrated_url"))


class World:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Near the real time: session tokens are verified against the wall clock.
        self.clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
        self.master = MasterKey(secrets.token_bytes(32))
        self.tokens = TokenService(
            db, self.master, issuer="dockyard", service="dockyard", ttl=300, clock=self.clock
        )
        self.audit = AuditLog(db, self.clock)
        self.svc = SignInService(
            db,
            self.master,
            self.tokens,
            audit=self.audit,
            accounts=AccountLookup(db),
            clock=self.clock,
        )

    async def setup(self) -> None:
        async with self.db.write() as s:
            self.account = Account(arn_id=ACCOUNT, name="test")
            s.add(self.account)
            await s.flush()
            self.org = Organization(account_id=self.account.id, name="root")
            s.add_all([self.org, new_signing_key(self.master)])
        await self.tokens.load_keys()

    async def add_user(self, username: str, password: str = GOOD, **columns: Any) -> User:
        async with self.db.write() as s:
            user = User(
                account_id=self.account.id,
                organization_id=self.org.id,
                username=username,
                display_name=username,
                password_hash=hash_password(password),
                **columns,
            )
            s.add(user)
        return user

    async def user(self, username: str) -> User:
        async with self.db.write() as s:
            found = (await s.execute(select(User).where(User.username == username))).scalar_one()
            return found

    async def logon_policy(self, windows: list[dict[str, str]], cidrs: list[str]) -> LogonPolicy:
        async with self.db.write() as s:
            policy = LogonPolicy(
                account_id=self.account.id,
                name=f"lp{secrets.token_hex(3)}",
                time_windows=windows,
                cidrs=cidrs,
            )
            s.add(policy)
        return policy

    async def events(self, actor: str | None = None) -> list[AuditEvent]:
        async with self.db.write() as s:
            stmt = select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)
            if actor is not None:
                stmt = stmt.where(AuditEvent.actor == actor)
            return list((await s.execute(stmt)).scalars().all())

    async def sign_in(self, username: str, password: str, **kw: Any) -> SessionGrant:
        kw.setdefault("source_ip", OFFICE_IP)
        return await self.svc.sign_in(username, password, **kw)

    def session_of(self, grant: SessionGrant) -> tuple[str, str, int]:
        return self.tokens.verify_session(grant.token)


def run(url: str, scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        db = Database(url)
        try:
            world = World(db)
            await world.setup()
            await scenario(world)
        finally:
            await db.dispose()

    asyncio.run(main())


def reasons(events: list[AuditEvent]) -> list[tuple[str, str, Any]]:
    return [(e.action, e.outcome, (e.detail or {}).get("reason")) for e in events]


# ---- password, lockout ----------------------------------------------------------------------


def test_success_issues_a_session_tied_to_the_epoch(db_url: str) -> None:
    async def scenario(w: World) -> None:
        user = await w.add_user("alice", session_epoch=3)
        grant = await w.sign_in("alice", GOOD)
        assert grant.username == "alice" and grant.expires_in == 12 * 3600
        assert grant.expires_at == w.clock.now() + timedelta(hours=12)
        assert w.session_of(grant) == ("alice", str(user.id), 3)
        [event] = await w.events("alice")
        assert (event.action, event.outcome, event.source_ip) == ("signin", "success", OFFICE_IP)
        assert event.actor_id == user.id

    run(db_url, scenario)


def test_unknown_user_and_wrong_password_look_the_same(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("alice")
        with pytest.raises(AuthenticationError) as unknown:
            await w.sign_in("nobody", GOOD)
        with pytest.raises(AuthenticationError) as wrong:
            await w.sign_in("alice", WRONG)
        assert unknown.value.message == wrong.value.message == "invalid username or password"
        events = await w.events()
        assert sorted((e.actor, e.outcome, e.detail["reason"]) for e in events) == [
            ("alice", "failure", "BAD_PASSWORD"),
            ("anonymous", "failure", "UNKNOWN_USER"),  # the typed name is not kept
        ]
        assert "nobody" not in json.dumps([e.detail for e in events])
        assert (await w.user("alice")).failed_signins == 1

    run(db_url, scenario)


def test_five_failures_lock_for_fifteen_minutes(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("alice")
        for _ in range(4):
            with pytest.raises(AuthenticationError):
                await w.sign_in("alice", WRONG)
        assert (await w.user("alice")).failed_signins == 4
        with pytest.raises(AccountLockedError) as fifth:
            await w.sign_in("alice", WRONG)
        locked_until = w.clock.now() + LOCKOUT_DURATION
        assert fifth.value.locked_until == locked_until
        assert fifth.value.retry_after == 15 * 60
        assert fifth.value.fields == {
            "lockedUntil": locked_until.isoformat(),
            "retryAfter": 900,
        }

        # Locked: the right password is refused too, and so is a wrong one (same answer).
        w.clock.advance(timedelta(minutes=5))
        with pytest.raises(AccountLockedError) as sixth:
            await w.sign_in("alice", GOOD)
        assert sixth.value.retry_after == 10 * 60
        with pytest.raises(AccountLockedError):
            await w.sign_in("alice", WRONG)
        w.clock.advance(timedelta(minutes=9, seconds=59))
        with pytest.raises(AccountLockedError) as last:
            await w.sign_in("alice", GOOD)
        assert last.value.retry_after == 1
        # Attempts while locked do not extend the lock.
        assert (await w.user("alice")).locked_until == locked_until

        w.clock.advance(timedelta(seconds=1))
        await w.sign_in("alice", GOOD)
        after = await w.user("alice")
        assert after.failed_signins == 0 and after.locked_until is None
        # (Rows of one clock instant have no order: compare as multisets.)
        events = await w.events("alice")
        assert Counter(json.dumps([e.outcome, e.detail]) for e in events) == {
            json.dumps(["failure", {"reason": "BAD_PASSWORD"}]): 4,
            json.dumps(["failure", {"reason": "BAD_PASSWORD", "locked": True}]): 1,
            json.dumps(["denied", {"reason": "ACCOUNT_LOCKED"}]): 3,
            json.dumps(["success", {"mfa": False}]): 1,
        }

    run(db_url, scenario)


def test_a_success_resets_the_count(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("alice")
        for _ in range(4):
            with pytest.raises(AuthenticationError):
                await w.sign_in("alice", WRONG)
        await w.sign_in("alice", GOOD)
        for _ in range(4):
            with pytest.raises(AuthenticationError):
                await w.sign_in("alice", WRONG)
        assert (await w.user("alice")).locked_until is None
        with pytest.raises(AccountLockedError):
            await w.sign_in("alice", WRONG)

    run(db_url, scenario)


def test_concurrent_failures_are_all_counted(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("alice")
        results = await asyncio.gather(
            *(w.sign_in("alice", f"{WRONG}{i}") for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, AuthenticationError | AccountLockedError) for r in results)
        assert sum(isinstance(r, AccountLockedError) for r in results) == 1
        user = await w.user("alice")
        assert user.locked_until is not None and user.failed_signins == 0
        with pytest.raises(AccountLockedError):
            await w.sign_in("alice", GOOD)

    run(db_url, scenario)


# ---- logon policy, disabled -------------------------------------------------------------------


def test_logon_policy_time_window_across_midnight(db_url: str) -> None:
    async def scenario(w: World) -> None:
        night = await w.logon_policy([{"start": "22:00", "end": "06:00"}], [])
        await w.add_user("owl", logon_policy_id=night.id)
        day = datetime(2026, 11, 27, tzinfo=UTC)
        for moment, admitted in [
            (day.replace(hour=22), True),
            (day.replace(hour=23, minute=59, second=59), True),
            (day + timedelta(days=1), True),  # midnight
            (day.replace(hour=5, minute=59), True),
            (day.replace(hour=6), False),  # end is exclusive
            (day.replace(hour=12), False),
            (day.replace(hour=21, minute=59), False),
        ]:
            w.clock.set(moment)
            if admitted:
                await w.sign_in("owl", GOOD)
            else:
                with pytest.raises(LogonPolicyDeniedError) as exc:
                    await w.sign_in("owl", GOOD)
                assert "UTC" in exc.value.message
                assert exc.value.fields == {"logonPolicy": night.name}
        # A refusal by the logon policy is not a password failure, but it is audited.
        assert (await w.user("owl")).failed_signins == 0
        denied = [e for e in await w.events("owl") if e.outcome == "denied"]
        assert len(denied) == 3
        assert denied[0].detail == {"reason": "LOGON_POLICY_DENIED", "logonPolicy": night.name}

    run(db_url, scenario)


def test_logon_policy_cidrs_and_a_wrong_password_first(db_url: str) -> None:
    async def scenario(w: World) -> None:
        office = await w.logon_policy([], ["10.0.0.0/8", "2001:db8::/32"])
        await w.add_user("bob", logon_policy_id=office.id)
        await w.sign_in("bob", GOOD, source_ip=OFFICE_IP)
        await w.sign_in("bob", GOOD, source_ip="2001:db8::7")
        with pytest.raises(LogonPolicyDeniedError) as exc:
            await w.sign_in("bob", GOOD, source_ip="192.168.1.9")
        assert "192.168.1.9" in exc.value.message
        with pytest.raises(LogonPolicyDeniedError):
            await w.sign_in("bob", GOOD, source_ip=None)
        # The password is checked first: a wrong one from outside is a plain failure.
        with pytest.raises(AuthenticationError):
            await w.sign_in("bob", WRONG, source_ip="192.168.1.9")
        assert (await w.user("bob")).failed_signins == 1

    run(db_url, scenario)


def test_disabled_user_is_refused(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("carol", disabled=True)
        with pytest.raises(UserDisabledError):
            await w.sign_in("carol", GOOD)
        with pytest.raises(AuthenticationError):
            await w.sign_in("carol", WRONG)

    run(db_url, scenario)


# ---- forced password change ----------------------------------------------------------------


def test_initial_password_must_be_changed(db_url: str) -> None:
    async def scenario(w: World) -> None:
        user = await w.add_user("dave", PASSWORD, must_change_password=True)
        with pytest.raises(PasswordChangeRequiredError):
            await w.sign_in("dave", PASSWORD)
        for weak, why in [("short1!", "10-32"), ("onlyletters", "two"), (PASSWORD, "differ")]:
            with pytest.raises(InvalidInputError) as exc:
                await w.sign_in("dave", PASSWORD, new_password=weak)
            assert why in exc.value.message and exc.value.detail == {"field": "newPassword"}
        # A wrong password with a new one is a plain failure.
        with pytest.raises(AuthenticationError):
            await w.sign_in("dave", WRONG, new_password=GOOD)

        grant = await w.sign_in("dave", PASSWORD, new_password=GOOD)
        after = await w.user("dave")
        assert not after.must_change_password and after.session_epoch == 1
        assert after.password_changed_at == w.clock.now()
        assert after.failed_signins == 0
        assert w.session_of(grant) == ("dave", str(user.id), 1)
        with pytest.raises(AuthenticationError):
            await w.sign_in("dave", PASSWORD)
        await w.sign_in("dave", GOOD)
        # newPassword is refused when no change is required.
        with pytest.raises(InvalidInputError):
            await w.sign_in("dave", GOOD, new_password=OTHER)
        outcomes = reasons(await w.events("dave"))
        assert ("signin", "denied", "PASSWORD_CHANGE_REQUIRED") in outcomes
        assert ("ram:ChangePassword", "success", "PASSWORD_CHANGE_REQUIRED") in outcomes
        assert outcomes.count(("signin", "denied", "INVALID_NEW_PASSWORD")) == 4

    run(db_url, scenario)


# ---- MFA ------------------------------------------------------------------------------------


async def bind(w: World, username: str, password: str = GOOD) -> pyotp.TOTP:
    with pytest.raises(MfaBindRequiredError) as exc:
        await w.sign_in(username, password)
    fields = exc.value.fields
    totp = pyotp.TOTP(fields["secret"])
    await w.svc.bind_mfa(fields["bindToken"], totp.at(w.clock.now()), source_ip=OFFICE_IP)
    return totp


def test_mfa_bind_then_codes(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("erin", mfa_required=True)
        with pytest.raises(MfaBindRequiredError) as first:
            await w.sign_in("erin", GOOD)
        fields = first.value.fields
        assert set(fields) == {
            "bindToken",
            "bindTokenExpiresAt",
            "secret",
            "otpauthUri",
            "digits",
            "period",
        }
        secret = fields["secret"]
        assert fields["otpauthUri"].startswith("otpauth://totp/Dockyard:erin?")
        assert f"secret={secret}" in fields["otpauthUri"]
        assert fields["bindTokenExpiresAt"] == (w.clock.now() + timedelta(minutes=10)).isoformat()
        # Stored encrypted, not bound yet.
        user = await w.user("erin")
        assert user.mfa_bound_at is None and user.mfa_secret_encrypted is not None
        assert secret.encode() not in user.mfa_secret_encrypted
        assert w.master.decrypt(user.mfa_secret_encrypted, MFA_SEED_PURPOSE) == secret.encode()
        # Signing in again before binding offers the same seed (the app entry stays valid).
        with pytest.raises(MfaBindRequiredError) as second:
            await w.sign_in("erin", GOOD)
        assert second.value.fields["secret"] == secret
        totp = pyotp.TOTP(secret)

        # A wrong code does not bind; a bind token expires after 10 minutes.
        with pytest.raises(InvalidInputError):
            await w.svc.bind_mfa(fields["bindToken"], "000000", source_ip=OFFICE_IP)
        with pytest.raises(AuthenticationError):
            await w.svc.bind_mfa("garbage", totp.at(w.clock.now()), source_ip=OFFICE_IP)
        w.clock.advance(timedelta(minutes=10))
        with pytest.raises(AuthenticationError):
            await w.svc.bind_mfa(fields["bindToken"], totp.at(w.clock.now()), source_ip=None)
        token = second.value.fields["bindToken"]  # issued at the same time: expired too
        with pytest.raises(AuthenticationError):
            await w.svc.bind_mfa(token, totp.at(w.clock.now()), source_ip=None)

        with pytest.raises(MfaBindRequiredError) as third:
            await w.sign_in("erin", GOOD)
        bind_code = totp.at(w.clock.now())
        bound = await w.svc.bind_mfa(third.value.fields["bindToken"], bind_code, source_ip=None)
        assert bound.username == "erin" and bound.bound_at == w.clock.now()
        # Bound once: the token is spent.
        with pytest.raises(AuthenticationError):
            await w.svc.bind_mfa(third.value.fields["bindToken"], bind_code, source_ip=None)

        # Now every sign-in asks for a code.
        with pytest.raises(MfaCodeRequiredError) as ask:
            await w.sign_in("erin", GOOD)
        assert ask.value.fields == {"mfaCodeRejected": False}
        # The code used to bind is not accepted again.
        with pytest.raises(MfaCodeRequiredError) as replay:
            await w.sign_in("erin", GOOD, mfa_code=bind_code)
        assert replay.value.fields == {"mfaCodeRejected": True}
        w.clock.advance(timedelta(seconds=30))
        code = totp.at(w.clock.now())
        await w.sign_in("erin", GOOD, mfa_code=code)
        with pytest.raises(MfaCodeRequiredError):
            await w.sign_in("erin", GOOD, mfa_code=code)  # replay
        # One step of drift either way is fine, two is not.
        w.clock.advance(timedelta(seconds=30))
        await w.sign_in("erin", GOOD, mfa_code=totp.at(w.clock.now() + timedelta(seconds=30)))
        w.clock.advance(timedelta(seconds=90))
        with pytest.raises(MfaCodeRequiredError):
            await w.sign_in("erin", GOOD, mfa_code=totp.at(w.clock.now() - timedelta(seconds=60)))
        await w.sign_in("erin", GOOD, mfa_code=totp.at(w.clock.now() - timedelta(seconds=30)))

        outcomes = reasons(await w.events("erin"))
        assert ("mfa.bind", "failure", "BAD_MFA_CODE") in outcomes
        assert ("mfa.bind", "success", None) in outcomes
        assert ("signin", "denied", "MFA_BIND_REQUIRED") in outcomes
        assert ("signin", "denied", "MFA_CODE_REQUIRED") in outcomes
        assert ("signin", "failure", "MFA_CODE_REPLAYED") in outcomes
        anonymous = reasons(await w.events("anonymous"))
        assert anonymous == [("mfa.bind", "failure", "INVALID_BIND_TOKEN")] * 3
        assert ("mfa.bind", "failure", "STALE_BIND_TOKEN") in outcomes  # spent token
        # Never a secret, a code or a password in the audit log.
        dumped = json.dumps([e.detail for e in await w.events()])
        for secret_text in (secret, bind_code, code, GOOD, fields["bindToken"]):
            assert secret_text not in dumped

    run(db_url, scenario)


def test_wrong_mfa_codes_count_towards_the_lock(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("fay", mfa_required=True)
        totp = await bind(w, "fay")
        w.clock.advance(timedelta(minutes=1))
        wrong = f"{(int(totp.at(w.clock.now())) + 1) % 1_000_000:06d}"
        for _ in range(4):
            with pytest.raises(MfaCodeRequiredError):
                await w.sign_in("fay", GOOD, mfa_code=wrong)
        # A sign-in without a code does not reset the count (nor does it count).
        with pytest.raises(MfaCodeRequiredError):
            await w.sign_in("fay", GOOD)
        assert (await w.user("fay")).failed_signins == 4
        with pytest.raises(AccountLockedError):
            await w.sign_in("fay", GOOD, mfa_code=wrong)
        with pytest.raises(AccountLockedError):
            await w.sign_in("fay", GOOD, mfa_code=totp.at(w.clock.now()))

    run(db_url, scenario)


def test_forced_change_with_a_bound_device_needs_the_code_first(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("gus", mfa_required=True)
        totp = await bind(w, "gus")
        await w.svc.reset_password(
            "gus", PASSWORD, actor="admin", actor_id=None, source_ip="127.0.0.1"
        )
        with pytest.raises(PasswordChangeRequiredError):
            await w.sign_in("gus", PASSWORD)
        # The password alone does not change it: the device is asked first.
        with pytest.raises(MfaCodeRequiredError):
            await w.sign_in("gus", PASSWORD, new_password=OTHER)
        assert (await w.user("gus")).must_change_password
        w.clock.advance(timedelta(seconds=30))
        await w.sign_in("gus", PASSWORD, new_password=OTHER, mfa_code=totp.at(w.clock.now()))
        after = await w.user("gus")
        assert not after.must_change_password
        w.clock.advance(timedelta(seconds=30))
        await w.sign_in("gus", OTHER, mfa_code=totp.at(w.clock.now()))

    run(db_url, scenario)


def test_forced_change_then_mfa_binding(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("hal", PASSWORD, must_change_password=True, mfa_required=True)
        with pytest.raises(PasswordChangeRequiredError):
            await w.sign_in("hal", PASSWORD)
        # The change is made, then the device must be bound.
        with pytest.raises(MfaBindRequiredError) as exc:
            await w.sign_in("hal", PASSWORD, new_password=GOOD)
        assert not (await w.user("hal")).must_change_password
        totp = pyotp.TOTP(exc.value.fields["secret"])
        await w.svc.bind_mfa(exc.value.fields["bindToken"], totp.at(w.clock.now()), source_ip=None)
        w.clock.advance(timedelta(seconds=30))
        await w.sign_in("hal", GOOD, mfa_code=totp.at(w.clock.now()))

    run(db_url, scenario)


# ---- password change, reset, sign-out -----------------------------------------------------------


def test_change_own_password(db_url: str) -> None:
    async def scenario(w: World) -> None:
        user = await w.add_user("ivy")
        old = await w.sign_in("ivy", GOOD)
        assert w.session_of(old)[2] == 0
        with pytest.raises(InvalidInputError) as wrong:
            await w.svc.change_password("ivy", WRONG, OTHER, source_ip=OFFICE_IP)
        assert wrong.value.detail == {"field": "oldPassword"}
        assert (await w.user("ivy")).failed_signins == 1  # a wrong old password is a failure
        with pytest.raises(InvalidInputError):
            await w.svc.change_password("ivy", GOOD, "weak", source_ip=OFFICE_IP)
        with pytest.raises(InvalidInputError):
            await w.svc.change_password("ivy", GOOD, GOOD, source_ip=OFFICE_IP)
        grant = await w.svc.change_password("ivy", GOOD, OTHER, source_ip=OFFICE_IP)
        assert w.session_of(grant) == ("ivy", str(user.id), 1)
        after = await w.user("ivy")
        assert after.session_epoch == 1 and after.failed_signins == 0
        await w.sign_in("ivy", OTHER)
        with pytest.raises(AuthenticationError):
            await w.sign_in("ivy", GOOD)
        changes = [e for e in await w.events("ivy") if e.action == "ram:ChangePassword"]
        assert sorted((e.outcome, e.detail.get("reason")) for e in changes) == [
            ("failure", "BAD_PASSWORD"),
            ("failure", "INVALID_NEW_PASSWORD"),
            ("failure", "INVALID_NEW_PASSWORD"),
            ("success", None),
        ]
        [changed] = [e for e in changes if e.outcome == "success"]
        assert changed.resource == f"acs:ram::{ACCOUNT}:user/ivy"

    run(db_url, scenario)


def test_reset_unlocks_and_forces_a_change(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("jon")
        for _ in range(5):
            with pytest.raises((AuthenticationError, AccountLockedError)):
                await w.sign_in("jon", WRONG)
        with pytest.raises(AccountLockedError):
            await w.sign_in("jon", GOOD)
        with pytest.raises(InvalidInputError):
            await w.svc.reset_password("jon", "weak", actor="admin", actor_id=None, source_ip="")
        await w.svc.reset_password(
            "jon", PASSWORD, actor="admin", actor_id=None, source_ip="127.0.0.1"
        )
        user = await w.user("jon")
        assert user.locked_until is None and user.failed_signins == 0
        assert user.must_change_password and user.session_epoch == 1
        with pytest.raises(PasswordChangeRequiredError):
            await w.sign_in("jon", PASSWORD)
        grant = await w.sign_in("jon", PASSWORD, new_password=OTHER)
        assert w.session_of(grant)[2] == 2
        [reset] = [e for e in await w.events("admin") if e.action == "ram:ResetPassword"]
        assert reset.outcome == "success" and reset.source_ip == "127.0.0.1"
        assert reset.resource == f"acs:ram::{ACCOUNT}:user/jon"
        assert PASSWORD not in json.dumps(reset.detail)

    run(db_url, scenario)


def test_sign_out_moves_the_epoch_on(db_url: str) -> None:
    async def scenario(w: World) -> None:
        await w.add_user("kim")
        first = await w.sign_in("kim", GOOD)
        await w.svc.sign_out("kim", source_ip=OFFICE_IP)
        assert (await w.user("kim")).session_epoch == 1
        second = await w.sign_in("kim", GOOD)
        assert w.session_of(first)[2] == 0 and w.session_of(second)[2] == 1
        assert ("signout", "success", None) in reasons(await w.events("kim"))

    run(db_url, scenario)
