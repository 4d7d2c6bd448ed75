"""Trigger deliveries from two nodes on one PostgreSQL database, a background worker each.

500 tags pushed through both nodes (the same blobs and manifest, tags ``t0..t499``, each
tag to a node in turn) reach the receiver as exactly 500 distinct deliveries, whichever
node's worker sends them. Meanwhile the periodic jobs, due every second here, are run by
one node at a time: at no sampled moment does the jobs table hold two pending runs of one
periodic job.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from tests.conftest import WEBHOOK_TEST_ENV, ReceiverFactory
from tests.multinode.conftest import Cluster, ClusterFactory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = "mn/hooked"
PUSHES = 500
PUSH_THREADS = 4
DRAIN_SECONDS = 240.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
#: The upload purge falls due every second, so both nodes' schedulers compete all along.
PERIODIC_ENV = {"DOCKYARD_UPLOAD_PURGE_INTERVAL_SECONDS": "1"}
PERIODIC_JOBS_SQL = (
    "SELECT ordering_key || ' ' || state || ' ' || coalesce(leased_by, '-') FROM jobs "
    "WHERE ordering_key LIKE 'periodic:%'"
)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class PeriodicWatch(threading.Thread):
    """Samples the periodic jobs' rows until stopped; notes every moment a periodic job has
    two pending runs (two nodes running, or about to run, the same job)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(name="periodic-watch", daemon=True)
        self.cluster = cluster
        self.stop = threading.Event()
        self.samples = 0
        self.overlaps: list[list[str]] = []
        self.runners: dict[str, set[str]] = {}

    def run(self) -> None:
        while not self.stop.wait(0.25):
            rows = self.cluster.pg.psql(PERIODIC_JOBS_SQL, database=self.cluster.database)
            lines = [line.split(" ") for line in rows.splitlines() if line.strip()]
            self.samples += 1
            keys = [key for key, _, _ in lines]
            if len(keys) != len(set(keys)):
                self.overlaps.append(rows.splitlines())
            for key, state, worker in lines:
                if state == "running":
                    self.runners.setdefault(key, set()).add(worker)


def test_500_pushes_through_two_nodes_make_500_distinct_deliveries(
    make_cluster: ClusterFactory, webhook_receiver: ReceiverFactory
) -> None:
    receiver = webhook_receiver()
    cluster = make_cluster(env={**WEBHOOK_TEST_ENV, **PERIODIC_ENV})
    nodes = [cluster.a, cluster.b]
    watch = PeriodicWatch(cluster)
    watch.start()

    token = httpx.get(
        f"{nodes[0].url}/auth/token",
        params={"service": "dockyard", "scope": f"repository:{REPO}:pull,push"},
        auth=cluster.admin,
        timeout=30,
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    layer, config = b"tiny layer", canonical({"architecture": "amd64", "os": "linux"})
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    )
    clients = [httpx.Client(base_url=n.url, headers=headers, timeout=60) for n in nodes]
    try:
        for blob in (layer, config):
            started = clients[0].post(f"/v2/{REPO}/blobs/uploads/")
            assert started.status_code == 202, started.text
            done = clients[0].put(
                started.headers["location"], params={"digest": sha256(blob)}, content=blob
            )
            assert done.status_code == 201, done.text
        first = clients[1].put(
            f"/v2/{REPO}/manifests/init",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert first.status_code == 201, first.text
        ns, name = REPO.split("/")
        created = httpx.post(
            f"{nodes[0].url}/api/v1/instances/default/namespaces/{ns}/repositories/{name}/triggers",
            json={"name": "every", "url": receiver.hook("mn"), "mode": "every"},
            auth=cluster.admin,
            timeout=30,
        )
        assert created.status_code == 201, created.text

        def push(i: int) -> None:
            resp = clients[i % 2].put(
                f"/v2/{REPO}/manifests/t{i}",
                content=manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert resp.status_code == 201, f"t{i} on {nodes[i % 2].url}: {resp.text}"

        with ThreadPoolExecutor(PUSH_THREADS) as pool:
            list(pool.map(push, range(PUSHES)))
    finally:
        for c in clients:
            c.close()

    expected = {f"t{i}" for i in range(PUSHES)}
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        if {d.json()["tag"] for d in receiver.accepted()} >= expected:
            break
        time.sleep(0.5)
    watch.stop.set()
    watch.join()

    accepted = receiver.accepted()
    ids_by_tag: dict[str, set[str]] = {}
    for d in accepted:
        body = d.json()
        assert body["digest"] == sha256(manifest), body
        ids_by_tag.setdefault(body["tag"], set()).add(str(d.delivery))
    missing = sorted(expected - set(ids_by_tag), key=lambda t: int(t[1:]))
    assert not missing, f"{len(missing)} pushes never delivered: {missing[:20]}"
    assert set(ids_by_tag) == expected  # nothing for the push before the trigger
    doubled = {t: ids for t, ids in ids_by_tag.items() if len(ids) > 1}
    assert not doubled, f"pushes delivered under several ids: {doubled}"
    distinct = {d.delivery for d in accepted}
    assert len(distinct) == PUSHES
    print(
        f"\ntwo nodes: {PUSHES} pushes -> {len(distinct)} distinct deliveries "
        f"({len(accepted)} accepted requests); periodic rows sampled {watch.samples} times, "
        f"run by { ({k: len(v) for k, v in watch.runners.items()}) } workers",
        flush=True,
    )

    # Each periodic job by one node at a time, and the upload purge did run, many times.
    assert not watch.overlaps, f"a periodic job pending twice at once: {watch.overlaps[:5]}"
    queued = sum(n.log_text().count("periodic job queued") for n in nodes)
    assert queued >= 2, "the periodic jobs never ran: the check above saw nothing"
    for node in nodes:
        assert "Traceback" not in node.log_text(), node.log_tail()
