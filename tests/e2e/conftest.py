"""Fixtures for the end-to-end protocol tests: clients bound to the shared server."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from tests.e2e.regclient import RegistryClient, worker_pid

if TYPE_CHECKING:
    from tests.conftest import DockyardServer

_counter = itertools.count()


@pytest.fixture(scope="session")
def client(registry: DockyardServer) -> Iterator[RegistryClient]:
    """The administrator, doing the token dance with its password (session-wide)."""
    c = RegistryClient(registry.url, *registry.admin)
    yield c
    c.close()


@pytest.fixture
def anon(registry: DockyardServer) -> Iterator[RegistryClient]:
    """A client without credentials."""
    c = RegistryClient(registry.url)
    yield c
    c.close()


@pytest.fixture
def admin_client(registry: DockyardServer) -> Iterator[RegistryClient]:
    """A fresh administrator client (own pool, empty token cache) for one test."""
    c = RegistryClient(registry.url, *registry.admin)
    yield c
    c.close()


@pytest.fixture
def new_repo() -> Callable[[str], str]:
    """``new_repo("blobs")`` -> a unique, valid ``<namespace>/<repository>`` name."""

    def make(hint: str = "r") -> str:
        ns = f"t{os.getpid() % 1000}-{secrets.token_hex(3)}"
        repo = f"{hint}-{next(_counter)}"
        return f"{ns}/{repo}"

    return make


@pytest.fixture
def repo(new_repo: Callable[[str], str]) -> str:
    return new_repo("repo")


@pytest.fixture
def worker_pair(registry: DockyardServer) -> Iterator[tuple[RegistryClient, RegistryClient]]:
    """Two admin clients whose keep-alive connections are held by different worker processes."""
    clients: list[RegistryClient] = []
    by_pid: dict[int, RegistryClient] = {}
    deadline = time.monotonic() + 20
    try:
        while len(by_pid) < 2 and time.monotonic() < deadline and len(clients) < 64:
            c = RegistryClient(registry.url, *registry.admin)
            clients.append(c)
            resp = c.get("/v2/")
            assert resp.status_code == 200
            pid = worker_pid(registry.port, registry.proc.pid, resp)
            if pid is not None:
                by_pid.setdefault(pid, c)
        assert len(by_pid) >= 2, (
            f"could not get connections on two different workers (saw {sorted(by_pid)})"
        )
        a, b = list(by_pid.values())[:2]
        yield a, b
    finally:
        for c in clients:
            c.close()
