"""Trust ``X-Forwarded-*`` and X-Accel-Redirect offers from configured proxies only.

Behind a load balancer, the realm URL, ``Location`` headers and endpoint allowlists need
the client's scheme, host and address, not the balancer's. The headers are honoured only
when the direct peer is inside ``--trusted-proxies``; anyone else could forge them.

A trusted proxy may also offer to send local files itself (the X-Accel-Redirect
convention: ``X-Sendfile-Type: X-Accel-Redirect`` and ``X-Accel-Mapping: <filesystem
prefix>=<internal URI prefix>``). The offer is put into the scope under
:data:`ACCEL_MAPPING`, and only there: handlers never read the request headers, so from an
untrusted peer, or with no trusted proxies at all, the headers mean nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Iterable
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Scope key of a trusted proxy's mapping: (filesystem prefix, internal URI prefix), both
#: without a trailing slash.
ACCEL_MAPPING = "dockyard.accel_mapping"


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


@functools.lru_cache(maxsize=4096)
def _trusted(host: str | None, networks: tuple[Network, ...]) -> bool:
    """Cached per address: parsing it on every request costs more than the rest of the
    middleware (a client's address repeats over its requests)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in networks)


class ProxyHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            client = scope.get("client")
            if _trusted(client[0] if client else None, self.trusted):
                scope = self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> Scope:
        headers = {k.lower(): v for k, v in scope["headers"]}
        scope = dict(scope)
        forwarded_for = headers.get(b"x-forwarded-for")
        if forwarded_for:
            # Walk from the nearest hop outwards and stop at the first untrusted address:
            # hops further out could have been written by the client itself.
            hops = [h.strip() for h in forwarded_for.decode("latin-1").split(",") if h.strip()]
            client = hops[0] if hops else None
            for hop in reversed(hops):
                client = hop
                if not _trusted(hop, self.trusted):
                    break
            if client:
                scope["client"] = (client, 0)
        proto = headers.get(b"x-forwarded-proto")
        if proto and proto.decode("latin-1").strip().lower() in ("http", "https"):
            scope["scheme"] = proto.decode("latin-1").strip().lower()
        host = headers.get(b"x-forwarded-host")
        if host:
            value = host.decode("latin-1").split(",")[0].strip().encode("latin-1")
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"]
            scope["headers"].append((b"host", value))
        mapping = _accel_mapping(headers)
        if mapping is not None:
            scope[ACCEL_MAPPING] = mapping
        return scope


def _accel_mapping(headers: dict[bytes, bytes]) -> tuple[str, str] | None:
    kind = headers.get(b"x-sendfile-type", b"").strip().lower()
    fs, sep, uri = headers.get(b"x-accel-mapping", b"").decode("latin-1").partition("=")
    fs, uri = fs.strip(), uri.strip()
    if kind != b"x-accel-redirect" or not sep or not fs.startswith("/") or not uri.startswith("/"):
        return None
    return fs.rstrip("/"), uri.rstrip("/")


def accel_redirect(scope: Scope, path: str | os.PathLike[str]) -> str | None:
    """The internal URI a trusted proxy sends ``path`` from, or None to send it ourselves.

    None when the request came through no trusted proxy offering X-Accel-Redirect, or when
    the file lies outside the mapping's filesystem prefix (a whole path component)."""
    mapping: tuple[str, str] | None = scope.get(ACCEL_MAPPING)
    if mapping is None:
        return None
    fs, uri = mapping
    absolute = os.path.abspath(path)
    if not absolute.startswith(fs + "/"):
        return None
    return quote(uri + absolute[len(fs) :])
