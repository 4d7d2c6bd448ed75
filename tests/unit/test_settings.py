"""Settings from the environment: list values as an operator writes them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dockyard.settings import load_settings

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
