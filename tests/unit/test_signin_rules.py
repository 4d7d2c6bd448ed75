"""dockyard.services.signin's pure rules: console password complexity, TOTP steps and the
acceptance window, the otpauth URI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from dockyard.errors import InvalidInputError
from dockyard.services.passwords import check_password_complexity
from dockyard.services.signin import matching_step, otpauth_uri, totp_step

pytestmark = pytest.mark.unit

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = datetime(2026, 11, 27, 12, 0, 10, tzinfo=UTC)  # 10 s into a 30 s step


@pytest.mark.parametrize(
    "password",
    [
        "abcdefghi1",  # 10: letters + digits
        "abcdefghij!",  # letters + special
        "1234567890$",  # digits + special
        "Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!",  # 32
        "ABCDEFGHI@",
        "%%%%%%%%%9",
        "pw-Xy_zAbc-9",  # other characters may appear (they count as no kind)
        "pässwörter1",
        "correct horse 1",
    ],
)
def test_complex_enough(password: str) -> None:
    check_password_complexity(password)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("abc12345!", "10-32"),  # 9
        ("Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!x", "10-32"),  # 33
        ("abcdefghijkl", "at least two"),  # letters only
        ("123456789012", "at least two"),  # digits only
        ("!@#$%!@#$%!@", "at least two"),  # specials only
        ("abcdefgh-_^&", "at least two"),  # - _ ^ & are not the special characters
        ("-_-_-_-_-_1", "at least two"),
        ("abcdefgh\t123", "control"),
        ("abcdefgh\n123", "control"),
        ("", "10-32"),
    ],
)
def test_not_complex_enough(password: str, why: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        check_password_complexity(password, "newPassword")
    assert exc.value.message.startswith("newPassword:")
    assert why in exc.value.message
    assert exc.value.detail == {"field": "newPassword"}


def test_totp_step_is_30_seconds() -> None:
    assert totp_step(T0) == int(T0.timestamp()) // 30
    assert totp_step(T0 + timedelta(seconds=19)) == totp_step(T0)
    assert totp_step(T0 + timedelta(seconds=20)) == totp_step(T0) + 1


@pytest.mark.parametrize(
    ("code_at", "accepted"),
    [
        (timedelta(0), True),
        (timedelta(seconds=-30), True),  # one step behind
        (timedelta(seconds=30), True),  # one step ahead
        (timedelta(seconds=-60), False),
        (timedelta(seconds=60), False),
        (timedelta(hours=1), False),
    ],
)
def test_window_of_one_step(code_at: timedelta, accepted: bool) -> None:
    code = pyotp.TOTP(SECRET).at(T0 + code_at)
    step = matching_step(SECRET, code, T0)
    if accepted:
        assert step == totp_step(T0 + code_at)
    else:
        assert step is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes(code: str) -> None:
    assert matching_step(SECRET, code, T0) is None


def test_spaces_in_a_code_are_ignored() -> None:
    code = pyotp.TOTP(SECRET).at(T0)
    assert matching_step(SECRET, f"{code[:3]} {code[3:]}", T0) == totp_step(T0)


def test_otpauth_uri() -> None:
    uri = otpauth_uri(SECRET, "alice")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/Dockyard:alice"
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["Dockyard"]
    # The URI round-trips to the same generator (what an authenticator app does).
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.at(T0) == pyotp.TOTP(SECRET).at(T0)
