"""The serving parent: Granian's supervisor, which ``dockyard serve`` becomes after set-up.

The CLI process has imported typer, Alembic and the application to migrate the schema and
bootstrap the first start. A parent that kept them would hold that memory for the life of
the server, and every forked worker would start with a copy of it. So ``serve`` replaces
itself with this module (``exec``: same PID, same signals, same output) and this module
imports nothing but Granian; each worker builds the application from the settings the
CLI resolved.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: Resolved settings (JSON) for the workers, secrets included; set by ``dockyard serve``.
WORKER_SETTINGS_ENV = "DOCKYARD_WORKER_SETTINGS"
#: How to serve (JSON: host, port, workers, tls_cert, tls_key, log_level).
SERVE_ENV = "DOCKYARD_SERVE"


def exec_supervisor(worker_settings: str, serve: dict[str, object]) -> None:
    """Replace this process with the supervisor (never returns)."""
    os.environ[WORKER_SETTINGS_ENV] = worker_settings
    os.environ[SERVE_ENV] = json.dumps(serve)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dockyard.supervisor"])  # noqa: S606


def main() -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    serve = json.loads(os.environ[SERVE_ENV])
    Server(
        "dockyard.server:worker_app",
        address=serve["host"],
        port=serve["port"],
        interface=Interfaces.ASGI,
        workers=serve["workers"],
        factory=True,
        ssl_cert=Path(serve["tls_cert"]) if serve["tls_cert"] else None,
        ssl_key=Path(serve["tls_key"]) if serve["tls_key"] else None,
        respawn_failed_workers=True,
        log_level=serve["log_level"],
        backpressure=256,
    ).serve()


if __name__ == "__main__":
    main()
