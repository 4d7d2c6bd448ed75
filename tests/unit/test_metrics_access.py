"""Who may scrape /metrics: loopback by default, else the CIDR allowlist or the bearer
token (either suffices); the address is the one the trusted-proxy middleware leaves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.metrics.access import MetricsAccess, Verdict
from dockyard.proxy import ProxyHeadersMiddleware, parse_networks

pytestmark = pytest.mark.unit

TOKEN = "s3cret-scraper-token"
BEARER = f"Bearer {TOKEN}".encode()


@pytest.mark.parametrize(
    ("client", "verdict"),
    [
        ("127.0.0.1", Verdict.ALLOW),
        ("127.8.9.10", Verdict.ALLOW),
        ("::1", Verdict.ALLOW),
        ("::ffff:127.0.0.1", Verdict.ALLOW),
        ("10.0.0.5", Verdict.FORBIDDEN),
        ("2001:db8::1", Verdict.FORBIDDEN),
        ("not-an-address", Verdict.FORBIDDEN),
        (None, Verdict.FORBIDDEN),
    ],
)
def test_with_nothing_configured_only_loopback_may_scrape(
    client: str | None, verdict: Verdict
) -> None:
    assert MetricsAccess((), None).decide(client, None) is verdict


@pytest.mark.parametrize(
    ("client", "verdict"),
    [
        ("10.1.2.3", Verdict.ALLOW),
        ("::ffff:10.1.2.3", Verdict.ALLOW),
        ("192.168.7.7", Verdict.ALLOW),
        ("192.168.8.1", Verdict.FORBIDDEN),
        # An allowlist replaces the loopback default: loopback is not implied.
        ("127.0.0.1", Verdict.FORBIDDEN),
    ],
)
def test_an_allowlist_admits_its_networks_only(client: str, verdict: Verdict) -> None:
    access = MetricsAccess(parse_networks(["10.0.0.0/8", "192.168.7.0/24"]), None)
    assert access.decide(client, None) is verdict


@pytest.mark.parametrize(
    ("authorization", "verdict"),
    [
        (BEARER, Verdict.ALLOW),
        (f"bearer {TOKEN}".encode(), Verdict.ALLOW),
        (f"Bearer {TOKEN}x".encode(), Verdict.UNAUTHORIZED),
        (f"Bearer {TOKEN[:-1]}".encode(), Verdict.UNAUTHORIZED),
        (f"Basic {TOKEN}".encode(), Verdict.UNAUTHORIZED),
        (b"Bearer", Verdict.UNAUTHORIZED),
        (None, Verdict.UNAUTHORIZED),
    ],
)
def test_a_token_admits_any_address_that_presents_it(
    authorization: bytes | None, verdict: Verdict
) -> None:
    access = MetricsAccess((), TOKEN)
    assert access.decide("203.0.113.9", authorization) is verdict
    # With a token configured, loopback needs it too.
    assert access.decide("127.0.0.1", authorization) is verdict


def test_with_both_either_the_network_or_the_token_suffices() -> None:
    access = MetricsAccess(parse_networks(["10.0.0.0/8"]), TOKEN)
    assert access.decide("10.0.0.1", None) is Verdict.ALLOW
    assert access.decide("203.0.113.9", BEARER) is Verdict.ALLOW
    assert access.decide("203.0.113.9", b"Bearer wrong") is Verdict.UNAUTHORIZED


def _client_seen(peer: str, forwarded_for: str, trusted: list[str]) -> str:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": "http",
        "client": (peer, 1234),
        "scheme": "http",
        "headers": [(b"host", b"registry:5000"), (b"x-forwarded-for", forwarded_for.encode())],
    }
    asyncio.run(ProxyHeadersMiddleware(app, parse_networks(trusted))(scope, None, None))
    return str(seen["client"][0])


def test_a_remote_client_behind_a_trusted_proxy_on_loopback_is_not_loopback() -> None:
    """A proxy on the same host forwards an outsider: the outsider is the one refused."""
    client = _client_seen("127.0.0.1", "203.0.113.9", ["127.0.0.1/32"])
    assert MetricsAccess((), None).decide(client, None) is Verdict.FORBIDDEN


def test_forwarded_headers_from_an_untrusted_peer_cannot_claim_loopback() -> None:
    client = _client_seen("203.0.113.9", "127.0.0.1", ["10.0.0.0/8"])
    assert MetricsAccess((), None).decide(client, None) is Verdict.FORBIDDEN
