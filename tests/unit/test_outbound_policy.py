"""The outbound address policy (issue 15 §3): every refused class, IPv4-mapped IPv6,
allowed CIDRs, DOCKYARD_WEBHOOK_DENY_PRIVATE and Dockyard's own endpoints."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from dockyard.bootstrap import outbound_policy
from dockyard.outbound import OutboundPolicy, listening_endpoints
from dockyard.settings import Settings, load_settings

pytestmark = pytest.mark.unit

HINT = "(set DOCKYARD_WEBHOOK_ALLOWED_CIDRS to allow it)"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", f"127.0.0.1 is a loopback address {HINT}"),
        ("127.45.6.7", f"127.45.6.7 is a loopback address {HINT}"),
        ("::1", f"::1 is a loopback address {HINT}"),
        ("169.254.169.254", f"169.254.169.254 is a link-local address {HINT}"),
        ("fe80::1", f"fe80::1 is a link-local address {HINT}"),
        ("0.0.0.0", f"0.0.0.0 is an unspecified address {HINT}"),  # noqa: S104 - judged, not bound
        ("0.1.2.3", f"0.1.2.3 is an unspecified address {HINT}"),
        ("::", f":: is an unspecified address {HINT}"),
        ("224.0.0.1", f"224.0.0.1 is a multicast address {HINT}"),
        ("ff02::1", f"ff02::1 is a multicast address {HINT}"),
        ("255.255.255.255", f"255.255.255.255 is a reserved address {HINT}"),
        ("240.0.0.1", f"240.0.0.1 is a reserved address {HINT}"),
        ("::ffff:127.0.0.1", f"::ffff:127.0.0.1 (127.0.0.1) is a loopback address {HINT}"),
        (
            "::ffff:169.254.169.254",
            f"::ffff:169.254.169.254 (169.254.169.254) is a link-local address {HINT}",
        ),
        ("example.com", "'example.com' is not an IP address"),
    ],
)
def test_refused_classes_say_why(address: str, reason: str) -> None:
    assert OutboundPolicy().refusal(address, 80) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "2606:4700::1111", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1"],
)
def test_public_and_private_addresses_are_allowed_by_default(address: str) -> None:
    assert OutboundPolicy().refusal(address, 443) is None


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1", "100.64.0.1", "::ffff:10.0.0.1"],
)
def test_deny_private_refuses_private_addresses(address: str) -> None:
    reason = OutboundPolicy(deny_private=True).refusal(address, 443)
    assert reason is not None
    assert "is a private address and DOCKYARD_WEBHOOK_DENY_PRIVATE is set" in reason


def test_deny_private_leaves_public_addresses_alone() -> None:
    assert OutboundPolicy(deny_private=True).refusal("93.184.216.34", 443) is None


def test_allowed_cidrs_admit_what_would_be_refused() -> None:
    policy = OutboundPolicy(
        deny_private=True,
        allowed=(
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("10.0.0.0/24"),
            ipaddress.ip_network("fe80::/10"),
        ),
    )
    assert policy.refusal("127.0.0.1", 8080) is None
    assert policy.refusal("::ffff:127.0.0.1", 8080) is None  # judged as the IPv4 it wraps
    assert policy.refusal("10.0.0.9", 80) is None
    assert policy.refusal("fe80::1", 80) is None
    assert policy.refusal("10.0.1.9", 80) is not None  # outside the allowed /24
    assert policy.refusal("::1", 80) == f"::1 is a loopback address {HINT}"


def test_own_endpoints_are_refused_even_inside_allowed_ranges() -> None:
    policy = OutboundPolicy(
        allowed=(ipaddress.ip_network("127.0.0.0/8"),),
        own_endpoints=frozenset({("10.0.0.5", 5000), ("127.0.0.1", 5000)}),
    )
    assert policy.refusal("10.0.0.5", 5000) == "10.0.0.5 port 5000 is where Dockyard itself listens"
    assert policy.refusal("::ffff:10.0.0.5", 5000) == (
        "::ffff:10.0.0.5 (10.0.0.5) port 5000 is where Dockyard itself listens"
    )
    assert policy.refusal("127.0.0.1", 5000) is not None
    assert policy.refusal("10.0.0.5", 5001) is None
    assert policy.refusal("127.0.0.1", 5001) is None


def test_a_named_listen_host_is_resolved() -> None:
    assert ("127.0.0.1", 5000) in listening_endpoints("localhost", 5000)
    assert listening_endpoints("127.0.0.1", 5000) == frozenset({("127.0.0.1", 5000)})


def test_a_wildcard_listen_host_takes_loopback_and_the_host_addresses() -> None:
    ipv4 = listening_endpoints("0.0.0.0", 5000)  # noqa: S104 - resolved, not bound
    assert ("127.0.0.1", 5000) in ipv4
    assert all(":" not in address for address, _ in ipv4)
    both = listening_endpoints("::", 5000)
    assert {("127.0.0.1", 5000), ("::1", 5000)} <= both
    assert ipv4 <= both


def test_the_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_WEBHOOK_DENY_PRIVATE", "true")
    monkeypatch.setenv("DOCKYARD_WEBHOOK_ALLOWED_CIDRS", "127.0.0.0/8, 10.9.0.0/16")
    policy = outbound_policy(load_settings(listen="127.0.0.1:5123"))
    assert policy.deny_private
    assert policy.allowed == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.9.0.0/16"),
    )
    assert policy.own_endpoints == frozenset({("127.0.0.1", 5123)})
    assert policy.refusal("127.0.0.1", 5123) is not None  # Dockyard itself
    assert policy.refusal("127.0.0.1", 8080) is None
    assert policy.refusal("10.8.0.1", 8080) is not None


def test_an_invalid_allowed_cidr_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/8,not-a-range")
    with pytest.raises(ValidationError, match="webhook_allowed_cidrs"):
        load_settings()


def test_the_defaults_deny_no_private_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_WEBHOOK_DENY_PRIVATE", raising=False)
    monkeypatch.delenv("DOCKYARD_WEBHOOK_ALLOWED_CIDRS", raising=False)
    policy = outbound_policy(Settings())
    assert (policy.deny_private, policy.allowed) == (False, ())
