"""Fixtures of the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metadata import migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated metadata database: a SQLite file, or a fresh database on the test
    PostgreSQL. A module that wants something else (an empty one) defines its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
        return url
    return str(request.getfixturevalue("pg_migrated_url"))
