"""The local commands load only what they use: not the faces, and nginx-config no database.

Each command runs in a fresh interpreter (through the CLI app, as ``dockyard`` would), which
then lists the modules it ended up with. ``bootstrap`` is where they reach the database and
the storage layout; it imports the application only in the functions that build it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 120
#: The serving application: no local command needs it. (``starlette.types``, typing only,
#: comes with ``dockyard.proxy``, which nginx-config shares.)
FACES = (
    "dockyard.api",
    "dockyard.registry",
    "dockyard.metrics",
    "fastapi",
    "starlette.requests",
    "prometheus_client",
    "granian",
)
#: The database layer and what it brings.
DATABASE = ("dockyard.metadata", "dockyard.services", "sqlalchemy", "alembic")

_RUN_AND_LIST_MODULES = """
import json, sys
from typer.testing import CliRunner
from dockyard.cli.main import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "output": result.output, "modules": list(sys.modules)}))
"""


def loaded_by(*argv: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    completed = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_SECONDS,
        check=True,
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["exit"] == 0, report["output"]
    return set(report["modules"])


def among(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        name for name in modules for p in packages if name == p or name.startswith(f"{p}.")
    )


def test_nginx_config_loads_neither_the_faces_nor_the_database(tmp_path: Path) -> None:
    modules = loaded_by("nginx-config", "--server-name", "r.example", "--data-dir", str(tmp_path))
    assert among(modules, FACES + DATABASE) == []


def test_db_upgrade_and_backup_load_no_face(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    assert among(loaded_by("db", "upgrade", "--data-dir", data_dir), FACES) == []
    backup = str(tmp_path / "backup.db")
    modules = loaded_by("db", "backup", backup, "--data-dir", data_dir)
    assert among(modules, FACES) == []
    assert Path(backup).stat().st_size > 0
