"""Trust ``X-Forwarded-*`` headers from configured proxies only.

Behind a load balancer, the realm URL, ``Location`` headers and endpoint allowlists need
the client's scheme, host and address, not the balancer's. The headers are honoured only
when the direct peer is inside ``--trusted-proxies``; anyone else could forge them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _trusted(host: str | None, networks: tuple[Network, ...]) -> bool:
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
        return scope
