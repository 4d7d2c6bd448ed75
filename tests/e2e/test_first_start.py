"""What a newcomer reads when the server starts: Dockyard's own lines, not its libraries'."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import ServerFactory

pytestmark = pytest.mark.e2e

#: Lines Alembic prints at INFO while it sets itself up and runs each step.
ALEMBIC_NARRATION = (
    "setup plugin alembic",
    "Context impl",
    "Will assume non-transactional DDL",
    "Running upgrade",
)


def _assert_no_alembic_narration(text: str) -> None:
    for line in ALEMBIC_NARRATION:
        assert line not in text, f"Alembic's {line!r} reached the terminal:\n{text}"


def test_first_start_prints_the_migrations_the_password_and_the_addresses(
    fresh_registry: ServerFactory,
) -> None:
    server = fresh_registry(env={"DOCKYARD_ADMIN_PASSWORD": ""})
    text = server.log_text()
    _assert_no_alembic_narration(text)
    assert '"event": "applied migration"' in text
    assert '"revision": "0001"' in text
    assert "Password (shown only now):" in text
    assert f"Dockyard is serving on {server.url}\n" in text
    assert f"{server.url}/v2/\n" in text
    assert f"{server.url}/api/v1/docs\n" in text
    assert f"{server.url}/console\n" in text


def test_db_upgrade_reports_the_migrations_it_applied(tmp_path: Path) -> None:
    def upgrade() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard", "db", "upgrade", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    first = upgrade()
    _assert_no_alembic_narration(first.stdout + first.stderr)
    assert "applied migration 0001: initial schema" in first.stdout.splitlines()
    assert first.stdout.splitlines()[-1] == "database schema is up to date"
    again = upgrade()
    assert again.stdout.splitlines() == ["database schema is up to date"]
    assert again.stderr == ""
