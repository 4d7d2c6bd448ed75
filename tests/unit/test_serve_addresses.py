"""The addresses `dockyard serve` prints are ones a browser or client can open."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.main import _where_to_find
from dockyard.settings import Settings


@pytest.mark.parametrize(
    ("listen", "base", "note"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000", ""),
        ("registry.local:8080", "http://registry.local:8080", ""),
        ("0.0.0.0:5000", "http://127.0.0.1:5000", " (all interfaces)"),
        ("[::]:5000", "http://[::1]:5000", " (all interfaces)"),
        ("[::1]:5000", "http://[::1]:5000", ""),
    ],
)
def test_addresses_for_each_listen_form(listen: str, base: str, note: str) -> None:
    text = _where_to_find(Settings(listen=listen))
    assert f"Dockyard is serving on {base}{note}\n" in text
    assert f"{base}/v2/\n" in text
    assert f"{base}/api/v1/docs\n" in text


def test_tls_addresses_are_https(tmp_path: Path) -> None:
    settings = Settings(
        listen="127.0.0.1:5443", tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem"
    )
    assert "Dockyard is serving on https://127.0.0.1:5443\n" in _where_to_find(settings)
