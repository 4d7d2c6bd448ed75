"""deploy/systemd: the unit passes ``systemd-analyze verify`` and names only real settings.

The unit is verified inside a scratch root (``--root``) holding the distribution's own units
(sysinit.target and friends) and an executable at the unit's ``ExecStart`` path, so the
check needs neither an installed Dockyard nor a running systemd.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.clients import require

from dockyard.settings import Settings

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = REPO_ROOT / "deploy" / "systemd"
UNIT = SYSTEMD_DIR / "dockyard.service"
ENV_EXAMPLE = SYSTEMD_DIR / "dockyard.env"
DISTRIBUTION_UNITS = Path("/usr/lib/systemd/system")


def _service_values(key: str) -> list[str]:
    """Every value of ``key`` in the unit (the unit has no continuation lines)."""
    return [
        line.partition("=")[2]
        for line in UNIT.read_text().splitlines()
        if line.partition("=")[0] == key
    ]


def _verify(root: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    (root / "etc" / "systemd" / "system" / "dockyard.service").write_text(unit_text)
    return subprocess.run(
        [
            require("systemd-analyze"),
            "verify",
            f"--root={root}",
            "/etc/systemd/system/dockyard.service",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def verify_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    shutil.copytree(DISTRIBUTION_UNITS, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    executable = root / shlex.split(_service_values("ExecStart")[0])[0].lstrip("/")
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    return root


def test_systemd_analyze_verify_accepts_the_unit(verify_root: Path) -> None:
    result = _verify(verify_root, UNIT.read_text())
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_systemd_analyze_verify_reports_a_broken_copy(verify_root: Path) -> None:
    """The verifier reads the file it is given: a misspelt key in a copy is reported."""
    broken = UNIT.read_text().replace("NoNewPrivileges=", "NoNewPrivilegez=")
    result = _verify(verify_root, broken)
    assert "Unknown key 'NoNewPrivilegez'" in result.stderr


def test_unit_runs_dockyard_serve() -> None:
    argv = shlex.split(_service_values("ExecStart")[0])
    assert Path(argv[0]).name == "dockyard"
    # The subcommand and its flags are ones the CLI takes.
    cli = [sys.executable, "-m", "dockyard", *argv[1:], "--help"]
    assert subprocess.run(cli, capture_output=True, timeout=60).returncode == 0


def test_unit_and_env_example_set_only_real_settings() -> None:
    assignments = [value.partition("=") for value in _service_values("Environment")]
    for line in ENV_EXAMPLE.read_text().splitlines():
        stripped = line.strip().removeprefix("#")
        if stripped.startswith("DOCKYARD_"):
            assignments.append(stripped.partition("="))
    assert len(assignments) >= 5
    values = {}
    for name, _, value in assignments:
        assert name.startswith("DOCKYARD_"), name
        field = name.removeprefix("DOCKYARD_").lower()
        assert field in Settings.model_fields, f"{name} is not a Dockyard setting"
        values[field] = value
    # Each example value is one the setting accepts (file paths need not exist).
    Settings.model_validate(values)
