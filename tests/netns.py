"""Network namespaces for tests that need clients with distinct source addresses.

:func:`network_namespaces` creates ``count`` namespaces, each joined to the root namespace
by its own veth pair on a private /24 of 10.213.0.0/16 (root side ``.1``, namespace side
``.2``), with unique names, and always removes them again. Only traffic between the root
namespace and these namespaces flows: no routes beyond the /24, no forwarding. Subnets are
chosen under a file lock, so parallel test processes (xdist workers, other checkouts on the
same machine) never pick the same one.

:class:`NetNs` runs commands inside its namespace; ``tests/netns_client.py`` is the HTTP
client the tests run there (Python from the same virtualenv, the same filesystem).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLIENT = str(Path(__file__).resolve().parent / "netns_client.py")
#: Held while a process reads the subnets in use and claims new ones (one machine-wide file).
SUBNET_LOCK = Path("/tmp/dockyard-test-netns.lock")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def require_netns() -> None:
    """Fail (or skip outside CI) unless we may create network namespaces."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (`ip`) is not installed")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")


@dataclass
class NetNs:
    name: str
    host_if: str
    ns_if: str
    subnet: int

    @property
    def address(self) -> str:
        """This namespace's address: what the server sees as the client's source."""
        return f"10.213.{self.subnet}.2"

    @property
    def gateway(self) -> str:
        """The root namespace's address on this veth: where the server is reached."""
        return f"10.213.{self.subnet}.1"

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def client(self, *args: str) -> list[str]:
        return self.argv(sys.executable, CLIENT, *args)

    def run_client(self, *args: str, timeout: float = 60) -> dict[str, Any]:
        """Run ``netns_client.py`` in the namespace; its one line of JSON output."""
        done = subprocess.run(
            self.client(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"netns client failed: {done.stderr}\n{done.stdout}"
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def _used_subnets() -> set[int]:
    out = _ip("-4", "-o", "addr", "show").stdout
    used = set()
    for token in out.split():
        if token.startswith("10.213."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(token.split(".")[2]))
    return used


def _delete(ns: NetNs) -> None:
    _ip("link", "del", ns.host_if, check=False)  # removes both ends of the pair
    _ip("netns", "del", ns.name, check=False)


@contextlib.contextmanager
def _subnet_lock() -> Iterator[None]:
    with open(SUBNET_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def network_namespaces(count: int) -> Iterator[list[NetNs]]:
    require_netns()
    created: list[NetNs] = []
    try:
        with _subnet_lock():
            _create(count, created)
        yield created
    finally:
        for ns in created:
            _delete(ns)


def _create(count: int, created: list[NetNs]) -> None:
    """Create ``count`` namespaces on subnets nobody uses, appending each to ``created``
    as soon as it exists (so the caller removes it even if a later step fails)."""
    used = _used_subnets()
    for _ in range(count):
        tag = secrets.token_hex(3)
        subnet = next(n for n in (secrets.randbelow(250) + 1 for _ in range(1000)) if n not in used)
        used.add(subnet)
        ns = NetNs(f"dkns-{tag}", f"dk{tag}h", f"dk{tag}n", subnet)
        _ip("netns", "add", ns.name)
        created.append(ns)
        _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
        _ip("link", "set", ns.ns_if, "netns", ns.name)
        _ip("addr", "add", f"{ns.gateway}/24", "dev", ns.host_if)
        _ip("link", "set", ns.host_if, "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", ns.ns_if)
        _ip("-n", ns.name, "link", "set", ns.ns_if, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
