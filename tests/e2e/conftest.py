"""Fixtures for the end-to-end protocol tests: clients bound to the shared server."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from tests.e2e.regclient import RegistryClient

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
