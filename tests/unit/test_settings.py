"""Settings from the environment: list values as an operator writes them."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from dockyard.settings import Settings, load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.0/8,192.168.1.0/24", ["10.0.0.0/8", "192.168.1.0/24"]),
        ("10.0.0.0/8 127.0.0.1/32", ["10.0.0.0/8", "127.0.0.1/32"]),
        ('["10.0.0.0/8"]', ["10.0.0.0/8"]),
        ("", []),
    ],
)
def test_trusted_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("DOCKYARD_TRUSTED_PROXIES", raw)
    assert load_settings().trusted_proxies == expected


def test_trusted_proxies_flag_and_invalid_cidr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_TRUSTED_PROXIES", raising=False)
    assert load_settings(trusted_proxies="10.1.0.0/16").trusted_proxies == ["10.1.0.0/16"]
    monkeypatch.setenv("DOCKYARD_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValidationError):
        load_settings()


def test_one_worker_per_two_cores_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, workers in ((1, 1), (2, 1), (3, 1), (8, 4), (None, 1)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert Settings().workers == workers
