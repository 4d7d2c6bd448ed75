"""Pure parts of services.credentials: the registry password rule, id shapes, and the
token audiences (a token of one kind is never accepted as another), with a ManualClock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import ECKey, KeySet

from dockyard.clock import ManualClock
from dockyard.errors import AuthenticationError, InvalidInputError
from dockyard.services.access import Principal
from dockyard.services.credentials import ACCESS_KEY_ID_RE, TokenService
from dockyard.services.passwords import check_registry_password

pytestmark = pytest.mark.unit


def tokens(clock: ManualClock) -> TokenService:
    service = TokenService(
        None,  # type: ignore[arg-type]  # no database: keys are set below
        None,  # type: ignore[arg-type]
        issuer="dockyard",
        service="dockyard",
        ttl=300,
        clock=clock,
    )
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    service._signing = key
    service._keys = KeySet([key])
    return service


ALICE = Principal(name="alice", user_id="8a0f2a4e-3b4c-4a6f-9d2e-0123456789ab")


@pytest.mark.parametrize(
    "password", ["abcdefg1", "ABCDEFG!", "Abcdefgh", "12345678-", "x" * 63 + "Y"]
)
def test_registry_password_rule_accepts(password: str) -> None:
    check_registry_password(password, password)


@pytest.mark.parametrize(
    "password",
    ["Abcdef1", "abcdefgh", "ABCDEFGH", "12345678", "!!!!!!!!", "x" * 64 + "Y", "abc\x00def1"],
)
def test_registry_password_rule_refuses(password: str) -> None:
    with pytest.raises(InvalidInputError):
        check_registry_password(password, password)


def test_registry_password_confirm_must_match() -> None:
    with pytest.raises(InvalidInputError, match="confirm"):
        check_registry_password("abcdefg1", "abcdefg2")


def test_access_key_id_shape() -> None:
    assert ACCESS_KEY_ID_RE.fullmatch("AK" + "a1B2" * 5 + "xy")
    assert not ACCESS_KEY_ID_RE.fullmatch("AK" + "a" * 21)
    assert not ACCESS_KEY_ID_RE.fullmatch("admin")
    assert not ACCESS_KEY_ID_RE.fullmatch("STS.abc")


def test_each_token_kind_has_its_own_audience() -> None:
    clock = ManualClock()
    svc = tokens(clock)
    temp = svc.issue_temporary(ALICE, clock.now() + timedelta(hours=1))
    session, _ = svc.issue_session(ALICE, epoch=3)
    registry, _ = svc.issue(ALICE, "default", [])
    security = svc.issue_security_token(
        "STS.x", str(ALICE.user_id), clock.now() + timedelta(hours=1)
    )
    assert svc.verify_temporary(temp)[:2] == (ALICE.user_id, None)
    assert svc.verify_session(session) == ("alice", ALICE.user_id, 3)
    assert svc.verify_security_token(security) == "STS.x"
    wrong: list[tuple[Any, str]] = [
        (svc.verify_session, temp),
        (svc.verify, temp),
        (svc.verify_refresh, temp),
        (svc.verify_security_token, temp),
        (svc.verify_temporary, session),
        (svc.verify_temporary, registry),
        (svc.verify_temporary, security),
        (svc.verify_session, security),
    ]
    for check, token in wrong:
        with pytest.raises(AuthenticationError):
            check(token)


def test_temporary_token_follows_the_injected_clock() -> None:
    clock = ManualClock()
    svc = tokens(clock)
    temp = svc.issue_temporary(ALICE, clock.now() + timedelta(hours=1), sts_id="STS.abc")
    clock.advance(timedelta(minutes=59))
    assert svc.verify_temporary(temp)[:2] == (ALICE.user_id, "STS.abc")
    clock.advance(timedelta(minutes=2))
    with pytest.raises(AuthenticationError):
        svc.verify_temporary(temp)


def test_session_token_without_epoch_is_refused() -> None:
    clock = ManualClock()
    svc = tokens(clock)
    now = int(clock.now().timestamp())
    legacy = svc._sign(
        {
            "iss": "dockyard",
            "aud": "dockyard:api",
            "sub": "alice",
            "uid": ALICE.user_id,
            "iat": now,
            "exp": now + 60,
        }
    )
    with pytest.raises(AuthenticationError, match="epoch"):
        svc.verify_session(legacy)
