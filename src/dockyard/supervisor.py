"""The serving parent: starts, watches and stops Dockyard's processes.

``dockyard serve`` runs the HTTP server (Granian, with its own HTTP workers) and N
background worker processes (``dockyard.background``); ``dockyard worker`` runs only the
background workers. Either way the CLI hands over to this module, which:

* starts the Granian server as a child (``python -m dockyard.supervisor http``) and each
  background worker as a child (``python -m dockyard.background``);
* restarts a background worker that dies (its job leases lapse and another worker, or its
  successor, takes the jobs again). Granian respawns its own HTTP workers; should the
  Granian server itself exit (it could not bind its port, say), everything stops with its
  exit code, for the init system to see;
* forwards SIGTERM and SIGINT to every child, waits for them (a background worker lets its
  running job finish within the grace period) and exits.

The CLI process has imported typer, Alembic and the application to migrate the schema and
bootstrap the first start. A parent that kept them would hold that memory for the life of
the server. So the CLI replaces itself with this module (``exec``: same PID, same signals,
same output), which imports nothing but the standard library; the children build the
application from the settings the CLI resolved, and only the HTTP child imports Granian.

Before the first child starts, the parent gives them one empty Prometheus multiprocess
directory (``PROMETHEUS_MULTIPROC_DIR``: the operator's, emptied, or a fresh temporary
one, removed again at exit), so a scrape sums this server's processes and nothing older.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

#: Resolved settings (JSON) for the workers, secrets included; set by ``dockyard serve``.
WORKER_SETTINGS_ENV = "DOCKYARD_WORKER_SETTINGS"
#: What to run (JSON: http, host, port, workers, tls_cert, tls_key, log_level,
#: background_workers, shutdown_grace_seconds).
SERVE_ENV = "DOCKYARD_SERVE"
#: prometheus_client's multiprocess directory, read by each worker as it imports it.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: A child that dies sooner than this after its start is restarted only after a pause,
#: so a crash loop (a broken database URL, say) does not spin.
RESTART_PAUSE_SECONDS = 1.0
POLL_SECONDS = 0.2
#: Beyond the background grace period: how long the children may take to exit.
EXIT_MARGIN_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


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


def _log(level: str, event: str, **fields: object) -> None:
    """One JSON line, shaped like the structured logs of the children."""
    line = {"event": event, "level": level, "logger": "dockyard.supervisor", **fields}
    print(json.dumps(line), file=sys.stderr, flush=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux; elsewhere none are known): Granian's HTTP
    workers would outlive a killed Granian server and keep its port."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends it SIGTERM if the supervisor dies
    (even by SIGKILL), so no orphan keeps the port or runs jobs unsupervised."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process and how to start it again."""

    role: str
    argv: list[str]
    #: Restarted when it dies; otherwise its death stops the whole server.
    restartable: bool
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.started_at = time.monotonic()
        _log("info", "process started", role=self.role, pid=self.process.pid)


class Supervisor:
    def __init__(self, children: list[Child], grace_seconds: float) -> None:
        self.children = children
        self.grace_seconds = grace_seconds
        self.stopping: int | None = None
        self.exit_code = 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping is None:
            self.stopping = signum
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for child in self.children:
            child.start()
        while self.stopping is None:
            for child in self.children:
                self._restart_if_dead(child)
            time.sleep(POLL_SECONDS)
        return self._wait_for_children()

    def _restart_if_dead(self, child: Child) -> None:
        process = child.process
        if process is None or process.poll() is None or self.stopping is not None:
            return
        if not child.restartable:
            _log("error", "process exited; stopping", role=child.role, code=process.returncode)
            self.exit_code = process.returncode or 1
            self._on_signal(signal.SIGTERM, None)
            return
        _log(
            "warning",
            "process exited; restarting",
            role=child.role,
            pid=process.pid,
            code=process.returncode,
        )
        if time.monotonic() - child.started_at < RESTART_PAUSE_SECONDS:
            time.sleep(RESTART_PAUSE_SECONDS)
        if self.stopping is None:
            child.start()

    def _wait_for_children(self) -> int:
        deadline = time.monotonic() + self.grace_seconds + EXIT_MARGIN_SECONDS
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log(
                    "warning",
                    "process did not stop in time; killed",
                    role=child.role,
                    pid=child.process.pid,
                )
                for pid in (*_descendants(child.process.pid), child.process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                child.process.wait()
        _log("info", "dockyard stopped")
        return self.exit_code


def main() -> None:
    serve = json.loads(os.environ[SERVE_ENV])
    me = [sys.executable, "-m"]
    children: list[Child] = []
    if serve.get("http", True):
        children.append(Child("http", [*me, "dockyard.supervisor", "http"], restartable=False))
    for number in range(int(serve.get("background_workers", 0))):
        argv = [*me, "dockyard.background"]
        children.append(Child(f"background-{number + 1}", argv, restartable=True))
    if not children:
        _log("error", "nothing to run: no HTTP server and no background workers")
        sys.exit(2)
    grace = float(serve.get("shutdown_grace_seconds", 0.0))
    metrics_dir, temporary = prepare_metrics_dir()
    try:
        code = Supervisor(children, grace).run()
    finally:
        if temporary:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.exit(code)


def serve_http() -> None:
    """The HTTP child: Granian's server and its HTTP workers (``--workers``)."""
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
    if sys.argv[1:] == ["http"]:
        serve_http()
    else:
        main()
