"""Who may scrape ``/metrics``.

Metrics tell an outsider how busy the registry is and which routes fail, so they are not
public: a scraper is let in by its address (``DOCKYARD_METRICS_ALLOWED_CIDRS``) or by a
bearer token (``DOCKYARD_METRICS_TOKEN``); either one suffices when both are set. With
neither set, only loopback clients are let in. The address is the one the trusted-proxy
middleware left in the scope, so a proxy that is not trusted is the client.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress

from dockyard.proxy import Network


class Verdict(enum.Enum):
    ALLOW = "allow"
    #: A token would let the client in (401 with a Bearer challenge).
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"


class MetricsAccess:
    def __init__(self, networks: tuple[Network, ...], token: str | None) -> None:
        self.networks = networks
        self._expected = token.encode() if token else None

    def decide(self, client: str | None, authorization: bytes | None) -> Verdict:
        """``client``: the source address; ``authorization``: the header's raw value."""
        if self._expected is not None and authorization is not None:
            scheme, _, presented = authorization.strip().partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(
                presented.strip(), self._expected
            ):
                return Verdict.ALLOW
        address = _address(client)
        if self.networks:
            if address is not None and any(address in net for net in self.networks):
                return Verdict.ALLOW
        elif self._expected is None and address is not None and address.is_loopback:
            return Verdict.ALLOW
        return Verdict.UNAUTHORIZED if self._expected is not None else Verdict.FORBIDDEN


def _address(client: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not client:
        return None
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 (dual-stack sockets)
    return address
