"""kill -9 while trigger deliveries are pending: every acknowledged push is delivered.

A real ``dockyard serve`` (one background worker) has one trigger, mode ``every``, on one
repository; its receiver (``tests/webhook_receiver.py``) answers 500 to the first request
of each delivery id, so every delivery needs a retry and many are pending at any moment.
Each trial runs writers that push manifests by tag (one unique manifest per tag) through
the registry API, kills the whole process group with SIGKILL at a seeded random moment and
restarts the server on the same data. Trials follow each other without waiting for the
deliveries, so later kills also cut short the retries of earlier pushes.

After the last trial, with the server up, every acknowledged push must be delivered:

* each acknowledged tag reaches the receiver with a 2xx, with its digest in the body;
* one tag, one delivery id: a tag seen under two ids is a duplicate delivery, not a retry;
  the same id may arrive more than once (a retry after a kill: at-least-once);
* every delivered tag was pushed (acknowledged, or in flight at a kill);
* the trigger log holds one ``Triggered`` record per delivered tag, under the same id.

Environment, as for the other crash loops: DOCKYARD_CRASH_SEED (default random, printed),
DOCKYARD_CRASH_TRIALS (default 20 here; CI requires at least 20), DOCKYARD_CRASH_WRITERS
(default 2 here). ``scripts/stress-kill-loop --loop triggers`` runs many more trials.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.conftest import WEBHOOK_TEST_ENV, DockyardServer, ReceiverFactory, ServerFactory
from tests.crash.harness import REQUEST_TIMEOUT, env_int, kill_group, note
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.crash, pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = "crash/hooked"
TRIGGER = "every-push"
KILL_DELAY = (0.3, 1.5)
#: Seconds each writer waits between pushes: a trial's backlog stays small enough to drain
#: quickly at the end, while every kill still finds deliveries pending.
PUSH_PAUSE = 0.1
#: A delivery job cut short by the kill runs again once its lease lapses: 5 s, not 300.
CRASH_ENV = {**WEBHOOK_TEST_ENV, "DOCKYARD_JOB_LEASE_SECONDS": "5"}
CI_MIN_TRIALS = 20
#: Seconds the restarted server has to deliver everything after the last trial.
DRAIN_SECONDS = 180.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Ledger:
    """Pushes made: acknowledged (tag -> digest) and in flight at a kill (tag -> digest)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, str] = field(default_factory=dict)
    in_flight: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Image:
    """One config and layer, uploaded once; every tag gets a manifest of its own."""

    def __init__(self) -> None:
        self.layer = os.urandom(256)
        self.config = canonical({"architecture": "amd64", "os": "linux", "rootfs": {}})

    def manifest(self, tag: str) -> bytes:
        return canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": sha256(self.config),
                    "size": len(self.config),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": sha256(self.layer), "size": len(self.layer)}
                ],
                "annotations": {"crash.tag": tag},
            }
        )

    def upload(self, http: httpx.Client) -> None:
        for blob in (self.layer, self.config):
            started = http.post(f"/v2/{REPO}/blobs/uploads/")
            assert started.status_code == 202, started.text
            done = http.put(
                started.headers["location"], params={"digest": sha256(blob)}, content=blob
            )
            assert done.status_code == 201, done.text


def bearer(server: DockyardServer) -> dict[str, str]:
    resp = httpx.get(
        f"{server.url}/auth/token",
        params={"service": "dockyard", "scope": f"repository:{REPO}:pull,push"},
        auth=server.admin,
        timeout=REQUEST_TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


class Pusher(threading.Thread):
    """Pushes tags ``t<trial>-w<idx>-<n>`` until stopped or the server goes away."""

    def __init__(
        self, idx: int, trial: int, url: str, auth: dict[str, str], image: Image, ledger: Ledger
    ) -> None:
        super().__init__(name=f"trigger-pusher-{idx}", daemon=True)
        self.prefix = f"t{trial}-w{idx}-"
        self.http = httpx.Client(base_url=url, headers=auth, timeout=REQUEST_TIMEOUT)
        self.image = image
        self.ledger = ledger
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                tag = f"{self.prefix}{n}"
                body = self.image.manifest(tag)
                try:
                    resp = self.http.put(
                        f"/v2/{REPO}/manifests/{tag}",
                        content=body,
                        headers={"Content-Type": OCI_MANIFEST},
                    )
                except httpx.TransportError as exc:
                    if not isinstance(exc, httpx.ConnectError):  # it may have been applied
                        with self.ledger.lock:
                            self.ledger.in_flight[tag] = sha256(body)
                    return
                with self.ledger.lock:
                    if resp.status_code == 201:
                        self.ledger.acked[tag] = sha256(body)
                    else:
                        self.ledger.errors.append(f"push {tag}: {resp.status_code} {resp.text}")
                        return
                n += 1
                self.stop.wait(PUSH_PAUSE)
        finally:
            self.http.close()


def trigger_records(server: DockyardServer) -> list[dict[str, Any]]:
    ns, name = REPO.split("/")
    path = f"/api/v1/instances/default/namespaces/{ns}/repositories/{name}/trigger-records"
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=server.url, auth=server.admin, timeout=REQUEST_TIMEOUT) as api:
        page = 1
        while True:
            resp = api.get(path, params={"trigger": TRIGGER, "page": page, "pageSize": 100})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            out += body["items"]
            if page * 100 >= body["total"]:
                return out
            page += 1


def landed(server: DockyardServer, in_flight: dict[str, str]) -> set[str]:
    """The tags of ``in_flight`` pushes that the server applied (they resolve)."""
    found = set()
    with httpx.Client(base_url=server.url, headers=bearer(server), timeout=30) as http:
        for tag, digest in in_flight.items():
            resp = http.head(f"/v2/{REPO}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            assert resp.status_code in (200, 404), resp.text
            if resp.status_code == 200:
                assert resp.headers["docker-content-digest"] == digest
                found.add(tag)
    return found


def delivered(receiver: Receiver) -> dict[str, set[str]]:
    """Tag -> the delivery ids the receiver accepted for it."""
    out: dict[str, set[str]] = {}
    for d in receiver.accepted():
        out.setdefault(d.json()["tag"], set()).add(str(d.delivery))
    return out


def test_trigger_kill_loop(
    fresh_registry: ServerFactory, webhook_receiver: ReceiverFactory
) -> None:
    seed = env_int("DOCKYARD_CRASH_SEED", random.SystemRandom().randrange(2**32))
    trials = env_int("DOCKYARD_CRASH_TRIALS", CI_MIN_TRIALS)
    writers = env_int("DOCKYARD_CRASH_WRITERS", 2)
    if os.environ.get("CI", "").strip().lower() == "true" and trials < CI_MIN_TRIALS:
        pytest.fail(f"CI runs at least {CI_MIN_TRIALS} trigger crash trials, not {trials}")
    print(f"\ntrigger crash loop: seed={seed} trials={trials} writers={writers}", flush=True)

    rng = random.Random(seed)
    started = time.monotonic()
    receiver = webhook_receiver(fail_first=1)
    server = fresh_registry(env=CRASH_ENV, extra_args=["--background-workers", "1"])
    image = Image()
    with httpx.Client(base_url=server.url, headers=bearer(server), timeout=30) as http:
        image.upload(http)
        init = http.put(
            f"/v2/{REPO}/manifests/init",
            content=image.manifest("init"),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert init.status_code == 201, init.text  # the repository exists: a trigger may go on it
    ns, name = REPO.split("/")
    created = httpx.post(
        f"{server.url}/api/v1/instances/default/namespaces/{ns}/repositories/{name}/triggers",
        json={"name": TRIGGER, "url": receiver.hook("crash"), "mode": "every"},
        auth=server.admin,
        timeout=REQUEST_TIMEOUT,
    )
    assert created.status_code == 201, created.text

    ledger = Ledger()
    pending_at_kill: list[int] = []
    for trial in range(trials):
        delay = rng.uniform(*KILL_DELAY)
        auth = bearer(server)
        pushers = [Pusher(i, trial, server.url, auth, image, ledger) for i in range(writers)]
        for p in pushers:
            p.start()
        time.sleep(delay)
        with ledger.lock:
            acked = set(ledger.acked)
        pending_at_kill.append(len(acked - set(delivered(receiver))))
        note(server, f"trial {trial}: SIGKILL of the process group at +{delay:.3f}s")
        kill_group(server)
        for p in pushers:
            p.stop.set()
            p.join(timeout=REQUEST_TIMEOUT + 5)
            assert not p.is_alive(), f"{p.name} hangs after the kill"
        t = time.monotonic()
        server.start()
        note(server, f"trial {trial}: restarted")
        print(
            f"trial {trial:3d}: kill at +{delay:.2f}s, acked {len(ledger.acked)}, "
            f"in flight {len(ledger.in_flight)}, undelivered at the kill {pending_at_kill[-1]}, "
            f"restart {time.monotonic() - t:.1f}s",
            flush=True,
        )
        assert not ledger.errors, ledger.errors

    # Every push the registry holds must be delivered: the acknowledged ones, and those in
    # flight at a kill that were applied (their tag resolves).
    applied = set(ledger.acked) | landed(server, ledger.in_flight)
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline and applied - set(delivered(receiver)):
        time.sleep(0.2)
    got = delivered(receiver)
    missing = sorted(applied - set(got))
    if missing:
        logged = [r for r in trigger_records(server) if r["tag"] in missing]
        pytest.fail(
            f"seed={seed}: {len(missing)} pushes never delivered: {missing[:20]}\n"
            f"their log records: {logged[:20]}\n--- server log ---\n{server.log_tail(80)}",
            pytrace=False,
        )

    # One id per tag; the same id may come again (a retry), never a second id.
    ids_by_tag: dict[str, set[str]] = {}
    for d in receiver.deliveries():
        if not d.complete:
            continue  # a request cut short by the kill: nothing was delivered
        body = d.json()
        pushed = ledger.acked.get(body["tag"]) or ledger.in_flight.get(body["tag"])
        assert pushed is not None, f"seed={seed}: delivered a tag never pushed: {body}"
        assert body["digest"] == pushed, f"seed={seed}: wrong digest for {body['tag']}: {body}"
        ids_by_tag.setdefault(body["tag"], set()).add(str(d.delivery))
    doubled = {tag: ids for tag, ids in ids_by_tag.items() if len(ids) > 1}
    assert not doubled, f"seed={seed}: pushes delivered under several ids: {doubled}"

    # The log agrees: one Triggered record per delivered push, under the id received.
    records = trigger_records(server)
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_tag.setdefault(r["tag"], []).append(r)
    for tag, ids in ids_by_tag.items():
        logged = by_tag.get(tag, [])
        assert [(r["id"], r["status"]) for r in logged] == [(next(iter(ids)), "Triggered")], (
            f"seed={seed}: log for {tag}: {logged}"
        )
    assert set(by_tag) - {"init"} <= set(ids_by_tag), "logged pushes the receiver never got"

    accepted = len(receiver.accepted())
    print(
        f"TRIGGER CRASH SUMMARY seed={seed} trials={trials} acked_pushes={len(ledger.acked)} "
        f"in_flight_at_kill={len(ledger.in_flight)} (applied {len(applied) - len(ledger.acked)}) "
        f"delivered_tags={len(got)} missing=0 second_ids=0 accepted_requests={accepted} "
        f"(repeats of one id: {accepted - len(got)}) "
        f"undelivered_at_kills={sum(pending_at_kill)} runtime={time.monotonic() - started:.0f}s",
        flush=True,
    )
