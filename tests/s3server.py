"""A real S3 protocol server for the tests: moto's standalone server (``moto[server]``).

:class:`MotoServer` runs ``python -m moto.server`` as a subprocess on a free port of
127.0.0.1 (the same HTTP S3 API a registry node talks to in production, not an in-process
mock), waits until it answers, and can be stopped and started again on the same port to
simulate an outage (moto keeps its buckets in memory, so a restart empties it).

Fixtures:

* ``moto_server`` — one server for the whole session (per xdist worker).
* ``s3_bucket`` — a fresh, empty bucket on it per test: ``(endpoint_url, bucket)``.

Credentials are arbitrary (moto accepts any); :data:`S3_ENV` has the ``DOCKYARD_*``
variables that point a ``dockyard serve`` at a bucket (see :func:`dockyard_s3_env`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Generous for a loaded machine: moto imports a lot before it answers.
START_TIMEOUT = 120.0
ACCESS_KEY = "dockyard-test"
SECRET_KEY = "dockyard-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1; ``stop()``/``start()`` keep the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="moto-"))
        self.log_path = self._log_dir / "moto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited: {self.log_tail()}")
            try:
                url = f"{self.endpoint_url}/moto-api/"
                with urllib.request.urlopen(url, timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer in {START_TIMEOUT}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def client(self) -> Any:
        """A synchronous boto3 S3 client for inspecting the server from tests."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"dockyard-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of ``target_port`` that can be cut and restored,
    to take an S3 endpoint away mid-test without losing the (in-memory) server's data.

    ``down()`` closes the listener and every open connection: new connections are refused
    and pooled ones fail. ``up()`` listens again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


def dockyard_s3_env(
    endpoint_url: str, bucket: str, prefix: str = "", *, presign: bool = False
) -> dict[str, str]:
    """Environment for ``dockyard serve`` storing blobs in ``bucket`` on the server."""
    return {
        "DOCKYARD_STORAGE": f"s3://{bucket}/{prefix}".rstrip("/"),
        "DOCKYARD_S3_ENDPOINT_URL": endpoint_url,
        "DOCKYARD_S3_REGION": REGION,
        "DOCKYARD_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "DOCKYARD_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "DOCKYARD_S3_PATH_STYLE": "true",
        "DOCKYARD_S3_PRESIGN_REDIRECTS": "true" if presign else "false",
    }


def s3_store_config(
    endpoint_url: str, bucket: str, spool_dir: Path | None = None, **overrides: Any
) -> Any:
    """An ``S3Config`` for the S3 blob driver on ``bucket``, under a prefix as deployed."""
    from dockyard.storage.s3 import S3Config

    settings: dict[str, Any] = {
        "bucket": bucket,
        "prefix": "registry/",
        "endpoint_url": endpoint_url,
        "region": REGION,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        "path_style": True,
        "spool_dir": spool_dir,
    }
    return S3Config(**{**settings, **overrides})


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> tuple[str, str]:
    return moto_server.endpoint_url, moto_server.create_bucket()
