"""X-Forwarded-* headers and X-Accel-Redirect offers count only from trusted peers; an
offer maps only files under its prefix."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.proxy import ACCEL_MAPPING, ProxyHeadersMiddleware, accel_redirect, parse_networks

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


# ---- X-Accel-Redirect offers ----------------------------------------------------------

OFFER = {
    "X-Sendfile-Type": "X-Accel-Redirect",
    "X-Accel-Mapping": "/var/lib/dockyard/storage/blobs/=/_dockyard_blobs/",
}
BLOB = "/var/lib/dockyard/storage/blobs/sha256/ab/ab12"


def test_a_trusted_peer_offer_maps_a_blob_to_the_internal_uri() -> None:
    scope = _seen("10.0.0.1", OFFER, ["10.0.0.0/8"])
    assert scope[ACCEL_MAPPING] == ("/var/lib/dockyard/storage/blobs", "/_dockyard_blobs")
    assert accel_redirect(scope, Path(BLOB)) == "/_dockyard_blobs/sha256/ab/ab12"


def test_an_untrusted_peer_offer_is_ignored() -> None:
    scope = _seen("198.51.100.7", OFFER, ["10.0.0.0/8"])
    assert ACCEL_MAPPING not in scope
    assert accel_redirect(scope, BLOB) is None


def test_without_trusted_proxies_an_offer_is_ignored() -> None:
    # The middleware is installed only with trusted proxies; it passes everything through
    # untouched even if built with none.
    scope = _seen("127.0.0.1", OFFER, [])
    assert ACCEL_MAPPING not in scope
    assert accel_redirect(scope, BLOB) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Accel-Mapping": OFFER["X-Accel-Mapping"]},  # no X-Sendfile-Type
        {"X-Sendfile-Type": "X-Accel-Redirect"},  # no mapping
        {**OFFER, "X-Sendfile-Type": "X-Sendfile"},  # another convention
        {**OFFER, "X-Accel-Mapping": "/var/lib/dockyard/storage/blobs/"},  # no "="
        {**OFFER, "X-Accel-Mapping": "relative/=/_b/"},  # not an absolute path
        {**OFFER, "X-Accel-Mapping": "/var/lib/dockyard/=_b/"},  # not an absolute URI
    ],
)
def test_incomplete_or_malformed_offers_are_ignored(headers: dict[str, str]) -> None:
    assert ACCEL_MAPPING not in _seen("10.0.0.1", headers, ["10.0.0.0/8"])


def test_the_header_name_and_value_case_do_not_matter() -> None:
    scope = _seen("10.0.0.1", {"x-sendfile-type": "x-accel-redirect", **OFFER}, ["10.0.0.0/8"])
    assert accel_redirect(scope, BLOB) == "/_dockyard_blobs/sha256/ab/ab12"


@pytest.mark.parametrize(
    ("mapping", "path", "expected"),
    [
        ("/data/storage/blobs=/_b", "/data/storage/blobs/sha256/ab/ab12", "/_b/sha256/ab/ab12"),
        ("/data/storage/=/_b/", "/data/storage/blobs/sha256/ab/ab12", "/_b/blobs/sha256/ab/ab12"),
        ("/data/storage/blobs/=/_b/", "/elsewhere/blobs/sha256/ab/ab12", None),
        # A prefix matches whole path components only.
        ("/data/storage/blob=/_b/", "/data/storage/blobs/sha256/ab/ab12", None),
        # What is left of the path is made URL-safe.
        ("/data/=/_b/", "/data/a b/%?#", "/_b/a%20b/%25%3F%23"),
    ],
)
def test_mapping(mapping: str, path: str, expected: str | None) -> None:
    scope = _seen("10.0.0.1", {**OFFER, "X-Accel-Mapping": mapping}, ["10.0.0.0/8"])
    assert accel_redirect(scope, path) == expected


def test_a_relative_blob_path_is_mapped_from_the_working_directory() -> None:
    mapping = f"{os.getcwd()}/data/storage/blobs/=/_b/"
    scope = _seen("10.0.0.1", {**OFFER, "X-Accel-Mapping": mapping}, ["10.0.0.0/8"])
    assert accel_redirect(scope, Path("data/storage/blobs/sha256/ab/ab12")) == "/_b/sha256/ab/ab12"
