"""Run the installed ``dockyard`` command as a subprocess, with a private config dir.

``HOME`` and ``XDG_CONFIG_HOME`` point into a temporary directory, so ``dockyard login``
writes its credentials there and never touches the real user's files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 120


def installed_command() -> Path:
    """The ``dockyard`` console script that ``pip install`` put beside this interpreter."""
    command = Path(sys.executable).parent / "dockyard"
    if not command.exists():
        raise FileNotFoundError(f"{command} is missing: install the package (scripts/test does)")
    return command


@dataclass
class Result:
    argv: list[str]
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\nexit {self.code}\n{self.stdout}\n{self.stderr}"


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_home = self.home / ".config"

    @property
    def credentials(self) -> Path:
        return self.config_home / "dockyard" / "credentials.json"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.config_home),
            COLUMNS="200",
            NO_COLOR="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def run(self, *args: str, input: str | None = None, expect: int | None = 0) -> Result:
        argv = [str(installed_command()), *args]
        done = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=TIMEOUT,
            check=False,
        )
        result = Result(argv[1:], done.returncode, done.stdout, done.stderr)
        if expect is not None:
            assert result.code == expect, str(result)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def login(self, server: str, user: str, password: str, *extra: str) -> Result:
        return self.run(
            "login", server, "--username", user, "--password-stdin", *extra, input=password + "\n"
        )
