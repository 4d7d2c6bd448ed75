"""Which addresses Dockyard may send outbound HTTP requests to (webhooks, replication).

A trigger URL is chosen by a repository administrator, but the request leaves from inside
the deployment: without a policy it could reach the cloud metadata service
(169.254.169.254), services bound to loopback, or Dockyard's own API. The policy judges the
address a connection is actually made to, after name resolution, so a name that resolves
to a harmless address when the trigger is saved and to 127.0.0.1 later gains nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: 0.0.0.0/8 ("this network"): Linux connects 0.0.0.0 to the local host, like loopback.
THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")

#: Documentation addresses (RFC 5737, RFC 3849) that are never sent a packet: connecting a
#: UDP socket to one only asks the kernel which local address its route leaves from.
_ROUTE_PROBES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))

_ALLOW_HINT = "set DOCKYARD_WEBHOOK_ALLOWED_CIDRS to allow it"


def unwrap(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) reaches the IPv4 host it wraps,
    so it is judged as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_class(address: IPAddress) -> str | None:
    """The refused class an address belongs to, in words; None when none applies."""
    if address.is_unspecified or address in THIS_NETWORK:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:  # 240.0.0.0/4 with the broadcast address; IPv6 ::/8 and more
        return "a reserved address"
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Loopback, link-local, unspecified, multicast and reserved addresses and Dockyard's
    own endpoints are refused; private ranges too when ``deny_private``. ``allowed`` admits
    chosen ranges even when their class would be refused (tests allow 127.0.0.0/8), but
    never Dockyard's own endpoints: a webhook delivered to itself is a loop, never a
    receiver."""

    deny_private: bool = False
    allowed: tuple[Network, ...] = ()
    #: (ip, port) pairs Dockyard listens on; see :func:`listening_endpoints`.
    own_endpoints: frozenset[tuple[str, int]] = frozenset()

    def refusal(self, address: str, port: int) -> str | None:
        """None when a connection to ``address``:``port`` is allowed, else why not."""
        try:
            given = ipaddress.ip_address(address)
        except ValueError:
            return f"{address!r} is not an IP address"
        ip = unwrap(given)
        # A mapped address as given: its str() differs across Python versions.
        shown = str(given) if ip == given else f"{address} ({ip})"
        if self._is_own_endpoint(ip, port):
            return f"{shown} port {port} is where Dockyard itself listens"
        if any(ip in network for network in self.allowed):
            return None
        refused_class = _address_class(ip)
        if refused_class is not None:
            return f"{shown} is {refused_class} ({_ALLOW_HINT})"
        if self.deny_private and not ip.is_global:
            return (
                f"{shown} is a private address and DOCKYARD_WEBHOOK_DENY_PRIVATE is set "
                f"({_ALLOW_HINT})"
            )
        return None

    def _is_own_endpoint(self, ip: IPAddress, port: int) -> bool:
        for own_address, own_port in self.own_endpoints:
            with contextlib.suppress(ValueError):
                if own_port == port and unwrap(ipaddress.ip_address(own_address)) == ip:
                    return True
        return False


def listening_endpoints(host: str, port: int) -> frozenset[tuple[str, int]]:
    """The (ip, port) pairs a server listening on ``host``:``port`` answers on.

    A wildcard host (``0.0.0.0``, ``::``) listens on every interface; the standard library
    cannot list them, so this takes loopback, what the machine's own name resolves to and
    the address of the default route. That covers the addresses a webhook URL would
    plausibly name; an address on a further interface is not recognised (deny private
    ranges, or firewall the port, on such hosts). A named host is resolved once.
    """
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
        return frozenset((ip, port) for ip in _resolve(host))
    addresses = {"127.0.0.1", "::1"}
    addresses.update(_resolve(socket.gethostname()))
    for family, probe in _ROUTE_PROBES:
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect((probe, 9))
            addresses.add(udp.getsockname()[0])
    if host == "0.0.0.0":  # noqa: S104
        addresses = {a for a in addresses if ":" not in a}
    return frozenset((ip, port) for ip in addresses)


def _resolve(host: str) -> set[str]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {str(info[4][0]) for info in infos}
