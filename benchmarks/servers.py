"""The systems under test: Debian's docker-registry (the reference) and Dockyard.

Both run on loopback with fresh data directories. Each server is a process tree (Dockyard:
Granian parent + one worker per core); RSS and CPU time are read from /proc for the whole
tree.
"""

from __future__ import annotations

import base64
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection as Connection_
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.http import Connection
from dockyard.bootstrap import filesystem_blobs_dir
from dockyard.cli.nginx import Address, blob_dir, render_nginx_config
from dockyard.settings import Settings

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
ADMIN_PASSWORD = "bench-admin-password-0123456789"  # noqa: S105 - throwaway local instance


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_tools() -> None:
    """Install docker-registry, wrk and nginx from Debian when missing (needs root or
    sudo)."""
    tools = (("docker-registry", "docker-registry"), ("wrk", "wrk"), ("nginx-light", "nginx"))
    missing = [p for p, b in tools if not _which(b)]
    if not missing:
        return
    print(f"benchmark: installing {' '.join(missing)} from Debian", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-E"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )
    # The packages may start system instances (:5000, :80); we use our own on free ports.
    if _which("systemctl"):
        subprocess.run([*sudo, "systemctl", "stop", "docker-registry"], check=False)
        if "nginx-light" in missing:
            subprocess.run([*sudo, "systemctl", "stop", "nginx"], check=False)


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


# --------------------------------------------------------------------------- /proc


def _ppid_map() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2 :].split()
        out[int(entry)] = int(rest[1])
    return out


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size: shared pages (forked workers share the parent's) split among
    the processes sharing them, so the sum does not count them twice."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2 :].split()
        total += int(rest[11]) + int(rest[12])  # utime + stime
    return total / TICK


class RssSampler:
    """Samples the summed RSS of every server tree every ``interval`` seconds (PSS every
    0.5 s) in a process of its own.

    As a thread of the benchmark client it took the GIL from the client's receiving
    threads: a single-stream pull measured 30 % slower with it running, while the
    loopback ceiling is measured without it. A separate process leaves the client alone.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._conn, child = multiprocessing.get_context("fork").Pipe()
        self._proc = multiprocessing.get_context("fork").Process(
            target=_sample_loop, args=(child, interval), daemon=True, name="rss-sampler"
        )

    def start(self) -> None:
        self._proc.start()

    def _ask(self, *message: object) -> Any:
        self._conn.send(message)
        return self._conn.recv()

    def watch(self, servers: list[Server]) -> None:
        self._ask("watch", {s.name: s.proc.pid for s in servers if s.proc is not None})

    def reset(self) -> None:
        self._ask("reset")

    def peak(self, name: str) -> int:
        return int(self._ask("peak", name))

    def pss_peak(self, name: str) -> int:
        return int(self._ask("pss_peak", name))

    def stop(self) -> None:
        if self._proc.is_alive():
            self._ask("stop")
            self._proc.join(5)


def _sample_loop(conn: Connection_, interval: float) -> None:
    roots: dict[str, int] = {}
    pids: dict[str, list[int]] = {}
    peaks: dict[str, int] = {}
    pss_peaks: dict[str, int] = {}
    refreshed = pss_at = 0.0

    def refresh() -> None:
        for name, root in roots.items():
            pids[name] = tree_pids(root)

    def sample(with_pss: bool) -> None:
        for name in roots:
            peaks[name] = max(peaks.get(name, 0), rss_bytes(pids.get(name, [])))
            if with_pss:
                pss_peaks[name] = max(pss_peaks.get(name, 0), pss_bytes(pids.get(name, [])))

    while True:
        if conn.poll(interval):
            message = conn.recv()
            kind = message[0]
            if kind == "stop":
                conn.send(None)
                return
            if kind == "watch":
                roots = dict(message[1])
                refresh()
                peaks.clear()
                pss_peaks.clear()
                sample(True)
                conn.send(None)
            elif kind == "reset":
                peaks.clear()
                pss_peaks.clear()
                sample(True)
                conn.send(None)
            elif kind == "peak":
                conn.send(peaks.get(message[1], 0))
            elif kind == "pss_peak":
                conn.send(pss_peaks.get(message[1], 0))
            continue
        now = time.monotonic()
        if now - refreshed > 1.0:  # workers may be respawned: re-read the trees
            refresh()
            refreshed = now
        with_pss = now - pss_at >= 0.5  # smaps_rollup is costly to read
        if with_pss:
            pss_at = now
        sample(with_pss)


# --------------------------------------------------------------------------- servers


class Server:
    name: str
    kind: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.dir = workdir
        self.port = free_port()
        self.host = "127.0.0.1"

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid) if self.proc else []

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def connect(self) -> Connection:
        return Connection(self.host, self.port)

    def auth_headers(self, repo: str, actions: str = "pull,push") -> dict[str, str]:
        return {}

    def _wait_up(self, log: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited during start:\n{log.read_text(errors='replace')[-3000:]}"
                )
            try:
                conn = self.connect()
                status = conn.request("GET", "/v2/").status
                conn.close()
                if status in (200, 401):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Reference(Server):
    """docker-registry, no authentication, filesystem storage, Debian's shipped cache."""

    kind = "reference"

    def start(self) -> Reference:
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            "storage:\n  cache:\n    blobdescriptor: inmemory\n"
            f"  filesystem:\n    rootdirectory: {self.dir / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}:{self.port}\n"
        )
        log = self.dir / "registry.log"
        bin_ = _which("docker-registry")
        if bin_ is None:
            raise RuntimeError("docker-registry is not installed")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [bin_, "serve", str(cfg)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_up(log)
        return self


class Dockyard(Server):
    """``python -m dockyard serve`` as shipped: token auth on, one worker per core."""

    kind = "dockyard"

    def __init__(
        self,
        name: str,
        workdir: Path,
        workers: int,
        trusted_proxies: str | None = None,
        *,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        super().__init__(name, workdir)
        self.workers = workers
        self.trusted_proxies = trusted_proxies
        #: Settings and ``serve`` options beyond the shipped defaults (the triggers bench).
        self.env = dict(env or {})
        self.extra_args = list(extra_args or [])
        self._tokens: dict[str, str] = {}
        self.token_fetches: list[float] = []

    def start(self) -> Dockyard:
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCKYARD_TOKEN_TTL_SECONDS": "3600",
        }
        for key in (
            "DOCKYARD_INSECURE_NO_AUTH",
            "DOCKYARD_CONFIG",
            "DOCKYARD_DATABASE_URL",
            "DOCKYARD_TRUSTED_PROXIES",
        ):
            env.pop(key, None)
        env.update(self.env)
        extra = ["--trusted-proxies", self.trusted_proxies] if self.trusted_proxies else []
        extra += self.extra_args
        log = self.dir / "dockyard.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dockyard",
                    "serve",
                    "--listen",
                    f"{self.host}:{self.port}",
                    "--data-dir",
                    str(self.dir / "data"),
                    "--workers",
                    str(self.workers),
                    *extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._wait_up(log)
        # Granian answers as soon as one worker is up: wait until every worker is.
        deadline = time.monotonic() + 60
        while len(self.pids()) < self.workers + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(4 * self.workers):
            conn = self.connect()
            conn.request("GET", "/v2/", self.auth_headers("bench/warmup", "pull"))
            conn.close()
        return self

    def token(self, scope: str) -> str:
        """A registry token for ``scope``, fetched once with Basic credentials and reused."""
        if scope in self._tokens:
            return self._tokens[scope]
        basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        conn = self.connect()
        t0 = time.perf_counter()
        resp = conn.request(
            "GET",
            f"/auth/token?service=dockyard&scope={quote(scope, safe=':/,')}",
            {"Authorization": f"Basic {basic}"},
        )
        self.token_fetches.append(time.perf_counter() - t0)
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"token fetch for {scope} failed: {resp.status} {resp.body!r}")
        import json

        token: str = json.loads(resp.body)["token"]
        self._tokens[scope] = token
        return token

    def auth_headers(self, repo: str, actions: str = "pull,push") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(f'repository:{repo}:{actions}')}"}


# --------------------------------------------------------------------------- nginx front

#: The address nginx connects to Dockyard from (``proxy_bind``), and the only one Dockyard
#: trusts: the benchmark's own requests come from 127.0.0.1 and stay untrusted, so the
#: direct ``dockyard`` figures pay only the middleware's peer check, not its rewrite.
NGINX_UPSTREAM_ADDRESS = "127.0.0.2"
NGINX_TRUSTED_PROXIES = f"{NGINX_UPSTREAM_ADDRESS}/32"
#: Added in the internal location only: the verification pass checks that nginx, not
#: Dockyard, sent every blob.
NGINX_SENT_HEADER = "X-Bench-Sent-By"

#: The benchmark's main configuration around what ``dockyard nginx-config`` writes
#: (``front``): one worker, no access log, long client keep-alives, and every connection to
#: Dockyard from :data:`NGINX_UPSTREAM_ADDRESS` (``proxy_bind``, inherited by the front's
#: ``location /``).
_NGINX_CONF = """\
{user}daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000;
    proxy_bind {bind};
    include {front};
}}
"""


def _front_conf(listen: Address, upstream: Address, data_dir: Path) -> str:
    """``dockyard nginx-config``'s configuration, plus the marker header in the internal
    location (add_header there replaces any from outside it, so it goes in there)."""
    blobs = blob_dir(filesystem_blobs_dir(Settings(data_dir=data_dir)))
    conf = render_nginx_config(listen=listen, upstream=upstream, blobs=blobs)
    anchor = "        add_header ETag $upstream_http_etag;\n"
    if conf.count(anchor) != 1:
        raise RuntimeError("the internal location's add_header line moved: update _front_conf")
    return conf.replace(anchor, f"{anchor}        add_header {NGINX_SENT_HEADER} nginx;\n")


class NginxFront(Server):
    """nginx in front of a running :class:`Dockyard` (its server and data dir, not a second
    one), configured by ``dockyard nginx-config`` (docs/operations.md): blob GETs are
    answered by Dockyard with X-Accel-Redirect and nginx sends the file with ``sendfile``.

    ``pids()`` is nginx's tree and Dockyard's (CPU per GB counts both); the RSS sampler
    watches nginx's master, so the system's sampled RSS is nginx's alone."""

    kind = "dockyard-nginx"

    def __init__(self, name: str, workdir: Path, backend: Dockyard) -> None:
        super().__init__(name, workdir)
        self.backend = backend

    def start(self) -> NginxFront:
        nginx = _which("nginx")
        if nginx is None:
            raise RuntimeError("nginx is not installed")
        self.dir.mkdir(parents=True, exist_ok=True)
        front = self.dir / "dockyard.conf"
        front.write_text(
            _front_conf(
                Address(self.host, self.port),
                Address(self.backend.host, self.backend.port),
                # The data dir as Dockyard was given it (made absolute by blob_dir).
                self.backend.dir / "data",
            )
        )
        conf = self.dir / "nginx.conf"
        conf.write_text(
            _NGINX_CONF.format(
                # As root, nginx's workers would run as nobody, who cannot read the blobs.
                user="user root;\n" if os.geteuid() == 0 else "",
                dir=self.dir,
                bind=NGINX_UPSTREAM_ADDRESS,
                front=front,
            )
        )
        log = self.dir / "stderr.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [nginx, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_up(log, timeout=20)
        except BaseException:
            self.stop()
            raise
        return self

    def nginx_pids(self) -> list[int]:
        return super().pids()

    def pids(self) -> list[int]:
        return self.nginx_pids() + self.backend.pids()

    def auth_headers(self, repo: str, actions: str = "pull,push") -> dict[str, str]:
        return self.backend.auth_headers(repo, actions)

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown: the master waits for its workers); if the master
        hangs, SIGKILL to its whole process group while the master is not yet reaped (so
        the group id cannot have been reused)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is not None:  # the master died: workers it left behind, if any
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
