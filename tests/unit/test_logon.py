"""dockyard.services.logon: time windows (UTC, across midnight, end exclusive), CIDRs, and
the validation the logon-policy CRUD uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dockyard.errors import InvalidInputError
from dockyard.services.logon import admits, logon_denial, validate_logon_policy

pytestmark = pytest.mark.unit


@dataclass
class Policy:
    time_windows: list[dict[str, str]] = field(default_factory=list)
    cidrs: list[str] = field(default_factory=list)


def at(hhmm: str, second: int = 0) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, 27, h, m, second, tzinfo=UTC)


OFFICE = [{"start": "09:00", "end": "18:00"}]
NIGHT = [{"start": "22:00", "end": "06:00"}]
SPLIT = [{"start": "08:00", "end": "10:00"}, {"start": "14:00", "end": "16:00"}]
TO_MIDNIGHT = [{"start": "20:00", "end": "24:00"}]
WHOLE_DAY = [{"start": "00:00", "end": "24:00"}]


@pytest.mark.parametrize(
    ("windows", "now", "allowed"),
    [
        ([], at("03:17"), True),
        (OFFICE, at("09:00"), True),
        (OFFICE, at("08:59", 59), False),
        (OFFICE, at("17:59", 59), True),
        (OFFICE, at("18:00"), False),  # end is exclusive
        (OFFICE, at("23:00"), False),
        (NIGHT, at("22:00"), True),
        (NIGHT, at("23:59", 59), True),
        (NIGHT, at("00:00"), True),
        (NIGHT, at("05:59"), True),
        (NIGHT, at("06:00"), False),
        (NIGHT, at("12:00"), False),
        (NIGHT, at("21:59"), False),
        (SPLIT, at("09:30"), True),
        (SPLIT, at("12:00"), False),
        (SPLIT, at("15:59"), True),
        (SPLIT, at("16:00"), False),
        (TO_MIDNIGHT, at("23:59"), True),
        (TO_MIDNIGHT, at("00:00"), False),
        (TO_MIDNIGHT, at("19:59"), False),
        (WHOLE_DAY, at("00:00"), True),
        (WHOLE_DAY, at("23:59"), True),
    ],
)
def test_time_windows(windows: list[dict[str, str]], now: datetime, allowed: bool) -> None:
    policy = Policy(time_windows=windows)
    assert admits(policy, "10.0.0.1", now) is allowed
    reason = logon_denial(policy, "10.0.0.1", now)
    assert (reason is None) is allowed
    if reason is not None:
        assert "UTC" in reason


def test_windows_are_utc_whatever_the_clock_zone() -> None:
    # 10:30 in UTC+8 is 02:30 UTC: outside 09:00-18:00 UTC.
    plus8 = timezone(timedelta(hours=8))
    assert not admits(Policy(time_windows=OFFICE), None, datetime(2026, 1, 1, 10, 30, tzinfo=plus8))
    assert admits(Policy(time_windows=OFFICE), None, datetime(2026, 1, 1, 18, 30, tzinfo=plus8))


@pytest.mark.parametrize(
    ("cidrs", "address", "allowed"),
    [
        ([], "203.0.113.9", True),
        ([], None, True),
        (["10.0.0.0/8"], "10.200.1.2", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["10.0.0.0/8"], "::ffff:10.1.2.3", True),  # IPv4-mapped IPv6
        (["10.0.0.0/8", "192.168.1.0/24"], "192.168.1.77", True),
        (["10.0.0.0/8", "192.168.1.0/24"], "192.168.2.1", False),
        (["192.0.2.5"], "192.0.2.5", True),  # a bare address is one host
        (["192.0.2.5/32"], "192.0.2.6", False),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["2001:db8::/32"], "10.0.0.1", False),  # other family never matches
        (["10.0.0.0/8"], "2001:db8::1", False),
        (["10.0.0.0/8"], "[::ffff:10.0.0.1]", True),
        (["fe80::/10"], "fe80::1%eth0", True),
        (["10.0.0.0/8"], None, False),  # unknown address with a CIDR rule: denied
        (["10.0.0.0/8"], "not-an-ip", False),
    ],
)
def test_cidrs(cidrs: list[str], address: str | None, allowed: bool) -> None:
    assert admits(Policy(cidrs=cidrs), address, at("12:00")) is allowed


def test_both_rules_must_admit() -> None:
    policy = Policy(time_windows=OFFICE, cidrs=["10.0.0.0/8"])
    assert admits(policy, "10.1.1.1", at("10:00"))
    reason = logon_denial(policy, "10.1.1.1", at("20:00"))
    assert reason is not None and "20:00 UTC" in reason and "09:00-18:00" in reason
    reason = logon_denial(policy, "172.16.0.1", at("10:00"))
    assert reason is not None and "172.16.0.1" in reason


def test_no_policy_is_the_default_policy() -> None:
    assert logon_denial(None, None, at("03:00")) is None
    assert logon_denial(Policy(), "198.51.100.1", at("03:00")) is None


def test_a_malformed_stored_policy_denies() -> None:
    reason = logon_denial(Policy(cidrs=["nope"]), "10.0.0.1", at("10:00"))
    assert reason is not None and "invalid" in reason


@pytest.mark.parametrize(
    ("windows", "cidrs", "field"),
    [
        ([{"start": "9:00", "end": "18:00"}], [], "timeWindows[0].start"),
        ([{"start": "09:00", "end": "18:60"}], [], "timeWindows[0].end"),
        ([{"start": "24:00", "end": "06:00"}], [], "timeWindows[0].start"),
        ([{"start": "25:00", "end": "06:00"}], [], "timeWindows[0].start"),
        ([OFFICE[0], {"start": "10:00", "end": "10:00"}], [], "timeWindows[1].end"),
        ([{"start": "00:00", "end": "00:00"}], [], "timeWindows[0].end"),
        ([{"start": "09:00"}], [], "timeWindows[0].end"),
        ([{"start": "09:00", "end": "10:00", "days": "mon"}], [], "timeWindows[0]"),
        (["09:00-10:00"], [], "timeWindows[0]"),
        ([{"start": 900, "end": "10:00"}], [], "timeWindows[0].start"),
        ("09:00-10:00", [], "timeWindows"),
        ([], ["10.0.0.0/33"], "cidrs[0]"),
        ([], ["10.0.0.0/8", "10.0.0.1/8"], "cidrs[1]"),  # host bits set
        ([], ["example.com"], "cidrs[0]"),
        ([], [""], "cidrs[0]"),
        ([], [8], "cidrs[0]"),
        ([], "10.0.0.0/8", "cidrs"),
    ],
)
def test_validation_names_the_field(windows: object, cidrs: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        validate_logon_policy(windows, cidrs)
    assert exc.value.message.startswith(f"{field}:")
    assert exc.value.detail == {"field": field}


def test_validation_normalises() -> None:
    windows, cidrs = validate_logon_policy(
        [{"start": " 22:00", "end": "06:00"}, {"start": "00:00", "end": "24:00"}],
        ["2001:DB8::/32", "10.0.0.0/8", "192.0.2.1"],
    )
    assert windows == [{"start": "22:00", "end": "06:00"}, {"start": "00:00", "end": "24:00"}]
    assert cidrs == ["2001:db8::/32", "10.0.0.0/8", "192.0.2.1/32"]
    assert validate_logon_policy([], []) == ([], [])
    assert validate_logon_policy(None, None) == ([], [])
