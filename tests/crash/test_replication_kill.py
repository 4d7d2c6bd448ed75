"""``kill -9`` of the source server in the middle of a replication task: after the
restart the task resumes and completes, the blobs sent before the kill are found at the
destination (``already present``) and not sent again, and the destination holds exactly
the source's digests.

The destination is Debian's ``docker-registry`` behind a throttling TCP relay (a few MiB
a second towards it), so the task is still running when the test sees its first layer
done and kills the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import API, OCI_CONFIG, OCI_MANIFEST, Pusher, canonical, sha256
from tests.conftest import ServerFactory, free_port
from tests.crash.harness import kill_group
from tests.e2e.clients import ReferenceRegistry

pytestmark = pytest.mark.e2e

LAYERS, LAYER_BYTES = 6, 4 * 1024 * 1024
#: Bytes a second the relay lets through towards the destination.
RATE = 4 * 1024 * 1024
CHUNK = 64 * 1024
WAIT_SECONDS = 180.0


class ThrottledRelay:
    """Relays 127.0.0.1:``port`` to ``target``, at most ``RATE`` bytes a second upstream."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, throttled: bool) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
                if throttled:
                    time.sleep(len(data) / RATE)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped.set()
        self._server.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[ReferenceRegistry, ThrottledRelay]]:
    with ReferenceRegistry(tmp_path / "distribution") as reference:
        relay = ThrottledRelay(reference.port)
        try:
            yield reference, relay
        finally:
            relay.close()


def task_of(api: httpx.Client, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = api.get(f"/instances/default/replication-tasks/{task_id}").json()
    return task


def test_a_task_killed_mid_layer_resumes_after_the_restart(
    fresh_registry: ServerFactory, relay: tuple[ReferenceRegistry, ThrottledRelay]
) -> None:
    reference, throttled = relay
    env = {"DOCKYARD_JOB_LEASE_SECONDS": "2", "DOCKYARD_BACKGROUND_POLL_SECONDS": "0.1"}
    server = fresh_registry(env=env)
    name = "crash/replicated"
    layers = [os.urandom(LAYER_BYTES) for _ in range(LAYERS)]
    config = canonical({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": "application/octet-stream", "digest": sha256(b), "size": len(b)}
                for b in layers
            ],
        }
    )
    pusher = Pusher(server)
    try:
        for blob in (*layers, config):
            assert pusher.blob(name, blob).status_code == 201
        assert pusher.manifest(name, "v1", manifest, OCI_MANIFEST).status_code == 201
    finally:
        pusher.close()

    with httpx.Client(base_url=server.url + API, auth=server.admin, timeout=60) as api:
        remote = {"name": "slow", "url": f"http://127.0.0.1:{throttled.port}",
                  "username": "anyone", "secret": "unused"}  # fmt: skip
        assert api.post("/instances/default/replication-remotes", json=remote).status_code == 201
        path = "/instances/default/namespaces/crash/repositories/replicated/replication-tasks"
        created = api.post(path, json={"tag": "v1", "to": "slow"})
        assert created.status_code == 201, created.text
        task_id = created.json()["items"][0]["id"]
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            task = task_of(api, task_id)
            copied = {row["digest"] for row in task["layers"] if row["status"] == "copied"}
            if task["status"] == "Running" and copied:
                break
            assert task["status"] in ("Waiting", "Running"), task
            assert time.monotonic() < deadline, task
            time.sleep(0.02)
    kill_group(server)
    server.start()

    with httpx.Client(base_url=server.url + API, auth=server.admin, timeout=60) as api:
        deadline = time.monotonic() + WAIT_SECONDS
        while (task := task_of(api, task_id))["status"] not in ("Completed", "Failed"):
            assert time.monotonic() < deadline, task
            time.sleep(0.2)
    assert task["status"] == "Completed", task
    statuses = {row["digest"]: row["status"] for row in task["layers"]}
    assert {statuses[d] for d in copied} == {"already present"}  # not sent again
    assert set(statuses) == {sha256(b) for b in (*layers, config)}
    assert "failed" not in statuses.values()

    with httpx.Client(base_url=f"http://{reference.host}", timeout=60) as dist:
        got = dist.get(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert got.headers["docker-content-digest"] == sha256(manifest)
        for digest in statuses:
            assert dist.head(f"/v2/{name}/blobs/{digest}").status_code == 200
