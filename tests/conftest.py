"""Shared test fixtures: a real ``dockyard serve`` subprocess, and the CI no-skip rule.

* :class:`DockyardServer` starts ``python -m dockyard serve`` (two workers, a
  temporary data directory, a random admin password), waits for ``/readyz`` and
  stops it with SIGTERM, then SIGKILL.  Its log goes to a file in its temporary
  directory; when a test that used a server fails, the tail of that log is
  attached to the failure report.
* ``registry`` is one server shared by the whole session (fast protocol tests);
  ``fresh_registry`` is a factory for servers private to one test.
* When ``CI=true``, a skipped test is turned into a failure: nothing may be
  silently skipped in CI.

The full run (``scripts/test``) is parallel: pytest-xdist with ``--dist loadfile``, so
every module runs on one worker and its module-scoped servers start once; session
fixtures (``registry``, PostgreSQL, moto) are one per worker. Under xdist the crash loops
are collected first, so the longest tests never run alone at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Test helpers are imported as ``tests.e2e.regclient`` etc., whatever the pytest entry point.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
# pytest loads this file as ``conftest``; tests import it as ``tests.conftest``. One module
# object for both names, so there is one list of live servers (for failure logs).
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

# A real PostgreSQL for the metadata tests (started on first use; see tests/pgserver.py).
from tests.pgserver import (  # noqa: E402
    _pg_migrated_template,  # noqa: F401
    _pg_module_database,  # noqa: F401
    pg_migrated_url,  # noqa: F401
    pg_url,  # noqa: F401
    postgres_server,  # noqa: F401
    restartable_postgres,  # noqa: F401
)
from tests.webhook_receiver import Receiver  # noqa: E402

#: Generous: on a loaded machine (parallel workers, other jobs) a start takes tens of seconds;
#: a server that exits early fails at once anyway.
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 150

_LIVE_SERVERS: list[DockyardServer] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerStartError(RuntimeError):
    pass


class DockyardServer:
    """One ``dockyard serve`` subprocess bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        base_dir: Path,
        *,
        workers: int = 2,
        admin_password: str | None = None,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        bind: str | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.base_dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.log_path = self.base_dir / "server.log"
        self.workers = workers
        self.admin_user = "admin"
        self.admin_password = admin_password or "pw-" + secrets.token_urlsafe(18)
        self.extra_env = dict(env or {})
        self.extra_args = list(extra_args or [])
        #: Address to listen on instead of 127.0.0.1 (e.g. ``0.0.0.0``, so that clients in
        #: network namespaces reach it); clients here still use 127.0.0.1.
        self.bind = bind
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``127.0.0.1:<port>`` — what OCI clients call the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def realm(self) -> str:
        return f"{self.url}/auth/token"

    @property
    def admin(self) -> tuple[str, str]:
        return (self.admin_user, self.admin_password)

    # -- lifecycle -------------------------------------------------------------------------
    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--listen",
            f"{self.bind}:{self.port}" if self.bind else self.host,
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]

    def start(self, attempts: int = 3) -> DockyardServer:
        last_error: Exception | None = None
        for attempt in range(attempts):
            # A restarted server keeps its port (clients may hold absolute upload URLs);
            # a new one, or a retry after losing the port, gets a fresh one.
            if not self.port or attempt > 0:
                self.port = free_port()
            try:
                self._spawn()
                self._wait_ready()
                _LIVE_SERVERS.append(self)
                return self
            except ServerStartError as exc:
                last_error = exc
                self._terminate()
                # A lost race for the port is worth another try; anything else is not.
                if "address already in use" not in self.log_text().lower():
                    break
        raise ServerStartError(f"{last_error}\n--- server log ---\n{self.log_tail()}")

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["DOCKYARD_ADMIN_PASSWORD"] = self.admin_password
        env["PYTHONUNBUFFERED"] = "1"
        # Every test client shares 127.0.0.1, and many tests try wrong passwords on purpose:
        # the per-address registry login limit (10/min by default) would make unrelated
        # tests fail with 429. Tests of the limit pass their own value in ``env``.
        env.setdefault("DOCKYARD_REGISTRY_AUTH_FAILURES_PER_MINUTE", "100000")
        env.update(self.extra_env)
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n=== starting: {' '.join(self.argv())}\n".encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.base_dir),
            start_new_session=True,  # its own process group: we can stop it and its workers
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no response"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ServerStartError(f"dockyard exited early with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (OSError, urllib.error.URLError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise ServerStartError(f"dockyard not ready after {READY_TIMEOUT}s (last: {last})")

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)
        if proc is not None:
            # Workers left behind by a dying master would keep the port: they share our
            # process group (start_new_session), so end the group we created.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        self._terminate()
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- logs ------------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> DockyardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<DockyardServer {self.url} data={self.data_dir}>"


ServerFactory = Callable[..., DockyardServer]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    """One two-worker server shared by every test of the session."""
    server = DockyardServer(tmp_path_factory.mktemp("dockyard-shared"), workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Factory: ``fresh_registry(workers=2, env={...}, extra_args=[...])`` -> a started server.

    Every server it starts is stopped when the test ends.
    """
    started: list[DockyardServer] = []

    def make(**kwargs: Any) -> DockyardServer:
        server = DockyardServer(tmp_path_factory.mktemp("dockyard-fresh"), **kwargs)
        started.append(server)
        return server.start()

    yield make
    for server in reversed(started):
        server.stop()


ReceiverFactory = Callable[..., Receiver]

#: What a server delivering triggers to a test's receiver needs: 127.0.0.1 admitted (it is
#: refused by default), retries and polls short enough for a test to wait for them.
WEBHOOK_TEST_ENV = {
    "DOCKYARD_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8",
    "DOCKYARD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "DOCKYARD_BACKGROUND_POLL_SECONDS": "0.05",
}


@pytest.fixture
def webhook_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverFactory]:
    """Factory: ``webhook_receiver(start=True, fail_first=0, status=200)`` -> a
    :class:`~tests.webhook_receiver.Receiver` process (``start=False``: its URL is known,
    it listens once the test calls ``start()``). Every receiver is stopped at the end."""
    made: list[Receiver] = []

    def make(*, start: bool = True, fail_first: int = 0, status: int = 200) -> Receiver:
        receiver = Receiver(
            tmp_path_factory.mktemp("receiver"), fail_first=fail_first, status=status
        )
        made.append(receiver)
        return receiver.start() if start else receiver

    yield make
    for receiver in made:
        receiver.stop()


# -- ordering for parallel runs, crash-loop timeouts ------------------------------------------

#: The crash loops' trial count when DOCKYARD_CRASH_TRIALS is unset (and CI's minimum).
CRASH_DEFAULT_TRIALS = 30


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # xdist hands out modules in collection order (scripts/test passes
        # --no-loadscope-reorder): the multi-minute crash loops go first, and the many
        # short modules fill the other workers meanwhile and level the end.
        items.sort(key=lambda item: item.get_closest_marker("crash") is None)
    _scale_crash_timeouts(items)


def _scale_crash_timeouts(items: list[pytest.Item]) -> None:
    """A stress run (``scripts/stress-kill-loop --trials N``) gets the crash loops' timeouts
    multiplied by ``N / 30``: they are sized for CI's count."""
    trials = int(os.environ.get("DOCKYARD_CRASH_TRIALS", "").strip() or CRASH_DEFAULT_TRIALS)
    if trials <= CRASH_DEFAULT_TRIALS:
        return
    for item in items:
        timeout = item.get_closest_marker("timeout")
        if item.get_closest_marker("crash") is not None and timeout is not None and timeout.args:
            scaled = float(timeout.args[0]) * trials / CRASH_DEFAULT_TRIALS
            item.add_marker(pytest.mark.timeout(scaled), append=False)


# -- failure reporting and the CI no-skip rule -----------------------------------------------


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Where each running server's log stood when this test began: failures show only what
    # the server logged during the test (servers started by the test show everything).
    item.stash[_LOG_OFFSETS] = {
        id(s): s.log_path.stat().st_size for s in _LIVE_SERVERS if s.log_path.exists()
    }


def _log_since(server: DockyardServer, offset: int) -> str:
    try:
        with open(server.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()

    if report.failed and _LIVE_SERVERS:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for server in list(_LIVE_SERVERS):
            text = _log_since(server, offsets.get(id(server), 0))
            report.sections.append(
                (
                    f"dockyard server log during this test ({server.url}; full log: "
                    f"{server.log_path})",
                    text or "(nothing logged)",
                )
            )

    if _ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true: skipped tests count as failures. Skip reason: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """Module-level skips (``pytest.importorskip``, ``skip(allow_module_level=True)``) too."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if _ci() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true: skipped modules count as failures. Skip reason: {reason}"
