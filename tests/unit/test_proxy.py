"""X-Forwarded-* headers count only from trusted peers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.proxy import ProxyHeadersMiddleware, parse_networks

pytestmark = pytest.mark.unit


def _seen(peer: str, headers: dict[str, str], trusted: list[str]) -> dict[str, Any]:
    captured: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        captured.update(scope)

    scope = {
        "type": "http",
        "client": (peer, 1234),
        "scheme": "http",
        "headers": [(b"host", b"node-a:5000")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    middleware = ProxyHeadersMiddleware(app, parse_networks(trusted))
    asyncio.run(middleware(scope, None, None))
    return captured


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9, 10.0.0.2",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.example.com",
}


def test_trusted_peer_rewrites_client_scheme_and_host() -> None:
    scope = _seen("10.0.0.1", FORWARDED, ["10.0.0.0/8"])
    assert scope["client"] == ("203.0.113.9", 0)  # 10.0.0.2 is another trusted hop
    assert scope["scheme"] == "https"
    assert dict(scope["headers"])[b"host"] == b"registry.example.com"


def test_untrusted_peer_headers_are_ignored() -> None:
    scope = _seen("198.51.100.7", FORWARDED, ["10.0.0.0/8"])
    assert scope["client"] == ("198.51.100.7", 1234)
    assert scope["scheme"] == "http"
    assert dict(scope["headers"])[b"host"] == b"node-a:5000"


def test_a_forged_leftmost_hop_does_not_win() -> None:
    forged = {"X-Forwarded-For": "127.0.0.1, 198.51.100.50"}
    scope = _seen("10.0.0.1", forged, ["10.0.0.0/8"])
    assert scope["client"] == ("198.51.100.50", 0)


def test_bad_proto_is_ignored() -> None:
    scope = _seen("10.0.0.1", {"X-Forwarded-Proto": "gopher"}, ["10.0.0.0/8"])
    assert scope["scheme"] == "http"
