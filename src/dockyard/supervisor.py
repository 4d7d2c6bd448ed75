"""The serving parent: Granian's supervisor, which ``dockyard serve`` becomes after set-up.

The CLI process has imported typer, Alembic and the application to migrate the schema and
bootstrap the first start. A parent that kept them would hold that memory for the life of
the server, and every forked worker would start with a copy of it. So ``serve`` replaces
itself with this module (``exec``: same PID, same signals, same output) and this module
imports nothing but Granian; each worker builds the application from the settings the
CLI resolved.

Before the first worker starts, the parent gives them one empty Prometheus multiprocess
directory (``PROMETHEUS_MULTIPROC_DIR``: the operator's, emptied, or a fresh temporary
one, removed again at exit), so a scrape sums this server's workers and nothing older.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: Resolved settings (JSON) for the workers, secrets included; set by ``dockyard serve``.
WORKER_SETTINGS_ENV = "DOCKYARD_WORKER_SETTINGS"
#: How to serve (JSON: host, port, workers, tls_cert, tls_key, log_level).
SERVE_ENV = "DOCKYARD_SERVE"
#: prometheus_client's multiprocess directory, read by each worker as it imports it.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exec_supervisor(worker_settings: str, serve: dict[str, object]) -> None:
    """Replace this process with the supervisor (never returns)."""
    os.environ[WORKER_SETTINGS_ENV] = worker_settings
    os.environ[SERVE_ENV] = json.dumps(serve)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dockyard.supervisor"])  # noqa: S606


def prepare_metrics_dir() -> tuple[Path, bool]:
    """Create or empty the workers' metrics directory; (its path, whether it is ours).

    Values left by an earlier run would be summed into this one's counters, so an
    operator's directory loses its ``*.db`` files (nothing else is touched)."""
    configured = os.environ.get(METRICS_DIR_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="dockyard-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(path)
    return path, True


def main() -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    serve = json.loads(os.environ[SERVE_ENV])
    metrics_dir, temporary = prepare_metrics_dir()
    try:
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
    finally:
        if temporary:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
