"""A private Docker daemon and the Docker 20.10 client, for the end-to-end tests.

Debian's ``docker.io`` (``scripts/install-test-deps``) provides ``dockerd`` and the client
at ``/usr/bin/docker``; another client may come first on ``PATH`` (``/usr/local/bin/docker``),
so the client is always called by that path. The daemon runs with the ``vfs`` storage
driver, no iptables and no bridge, and its data root, exec root, pid file and socket are its
own (the socket and exec root under ``/tmp``: unix socket paths are limited to 108 bytes).
Each :class:`Docker` client has its own ``DOCKER_CONFIG`` directory, so logins never touch
the real user's files; its ``PATH`` starts with this interpreter's scripts directory, where
``docker-credential-dockyard`` is installed.

Nothing here imports ``dockyard``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.clients import ClientError, MissingTool, run

DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
TIMEOUT = 180.0
BUSYBOX = "/bin/busybox"  # busybox-static: runs in an image with nothing else


def _require(path: str) -> str:
    if not os.access(path, os.X_OK):
        raise MissingTool(f"{path} is missing: run scripts/install-test-deps (docker.io) as root")
    return path


class DockerDaemon(contextlib.AbstractContextManager["DockerDaemon"]):
    """``dockerd --storage-driver vfs --iptables=false --bridge=none`` with its own roots."""

    def __init__(self, workdir: Path) -> None:
        self.dockerd = _require(DOCKERD)
        self.dir = Path(workdir)
        self.rundir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.host = ""

    def start(self) -> DockerDaemon:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rundir = Path(tempfile.mkdtemp(prefix="dkd-", dir="/tmp"))
        self.host = f"unix://{self.rundir / 'docker.sock'}"
        self.log = open(self.dir / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [
                self.dockerd,
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--bridge=none",
                "--data-root",
                str(self.dir / "data"),
                "--exec-root",
                str(self.rundir / "exec"),
                "--pidfile",
                str(self.rundir / "dockerd.pid"),
                "-H",
                self.host,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its containerd shares the group: stop() ends both
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClientError(
                    [self.dockerd], self.proc.returncode, "", self.log_tail(), note="dockerd exited"
                )
            with contextlib.suppress(ClientError):
                run([DOCKER, "-H", self.host, "version"], timeout=10)
                return self
            time.sleep(0.2)
        self.stop()
        raise ClientError([self.dockerd], None, "", self.log_tail(), note="dockerd did not start")

    def log_tail(self) -> str:
        try:
            return (self.dir / "dockerd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(STOP_TIMEOUT)
            # Whatever is left of the group we created (its containerd, a hung daemon).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)
            self.log.close()
        if self.rundir is not None:
            shutil.rmtree(self.rundir, ignore_errors=True)
            self.rundir = None
        # vfs keeps a full copy of every layer: only the log is worth keeping.
        shutil.rmtree(self.dir / "data", ignore_errors=True)

    def __enter__(self) -> DockerDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Docker:
    """``/usr/bin/docker`` against a :class:`DockerDaemon`, with a private config directory.

    ``env``: more environment for the client (and the credential helpers it runs).
    """

    def __init__(
        self, daemon: DockerDaemon, config_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.bin = _require(DOCKER)
        self.config_dir = Path(config_dir)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        scripts = str(Path(sys.executable).parent)
        self.env = {
            "DOCKER_HOST": daemon.host,
            "DOCKER_CONFIG": str(self.config_dir),
            "DOCKER_BUILDKIT": "0",  # the classic builder: FROM scratch needs no network
            "PATH": f"{scripts}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            **(env or {}),
        }

    @property
    def config(self) -> dict[str, Any]:
        path = self.config_dir / "config.json"
        found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return found

    def write_config(self, config: dict[str, Any]) -> None:
        (self.config_dir / "config.json").write_text(json.dumps(config))

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``docker ARGS``; :class:`ClientError` (with stdout and stderr) when it fails."""
        return run([self.bin, *args], env=self.env, input=input, timeout=TIMEOUT)

    def login(self, host: str, user: str, password: str) -> str:
        return self("login", "--username", user, "--password-stdin", host, input=password).stdout

    def build(self, context: Path, tag: str) -> None:
        self("build", "--tag", tag, str(context))

    def push(self, ref: str) -> str:
        """The digest docker prints for what it pushed (``TAG: digest: sha256:… size: N``)."""
        out = self("push", ref).stdout
        for line in out.splitlines():
            _, found, rest = line.partition(" digest: ")
            if found:
                return rest.split()[0]
        raise AssertionError(f"no digest in docker push's output:\n{out}")

    def pull(self, ref: str) -> str:
        """The digest docker prints for what it pulled (``Digest: sha256:…``)."""
        out = self("pull", ref).stdout
        for line in out.splitlines():
            if line.startswith("Digest: "):
                return line.removeprefix("Digest: ").strip()
        raise AssertionError(f"no digest in docker pull's output:\n{out}")

    def remove_image(self, *refs: str) -> None:
        self("image", "rm", "--force", *refs)


def busybox_context(directory: Path, stamp: str) -> Path:
    """A build context ``FROM scratch`` with the static busybox and a file making it unique."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(_require(BUSYBOX), directory / "busybox")
    (directory / "stamp").write_text(stamp)
    (directory / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        "COPY stamp /stamp\n"
        'CMD ["/bin/busybox", "cat", "/stamp"]\n'
    )
    return directory
