"""Garbage collection under kill -9: acknowledged images survive GC and crashes, and what
nothing references is reclaimed in the end.

Each trial runs pushers (images sharing base layers across two repositories; a blob is
HEADed first and uploaded only when missing, as clients do), a deleter (deleting
acknowledged images by digest) and a GC driver (``POST /api/v1/gc/runs`` again and again)
against a real ``dockyard serve`` whose grace period is one second, then kills the whole
process group with SIGKILL a seeded moment after its first acknowledged push, restarts it on
the same data and checks:

* every acknowledged image not acknowledged deleted pulls completely: the manifest by
  digest has the bytes pushed, every blob's bytes hash to its digest;
* a push or delete in flight at the kill either happened or not; a manifest that is there
  pulls completely;
* a push may be refused (the blob it saw was reclaimed after the grace period, or its
  upload raced the sweep): that is not a loss, nothing was acknowledged. Any 5xx is.

After the last trial the writers stop, two GC runs a grace period apart follow, and the
blob store must hold exactly the blobs of the images still there.

Each trial prints where its time went (kill moment, restart, verification). The server runs
one HTTP worker: a restart is most of a trial, and each worker process imports the whole
application again.

Environment: DOCKYARD_GC_CRASH_SEED (default random, printed), DOCKYARD_GC_CRASH_TRIALS
(default 15 per backend in CI: :data:`CI_TRIALS`). ``scripts/stress-gc --trials N`` runs
many.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.crash.harness import env_int, kill_group, note
from tests.s3server import MotoServer, dockyard_s3_env, moto_server  # noqa: F401 - fixture

#: Sized for CI's trials per backend on a busy machine (15-45 s each);
#: ``scripts/stress-gc`` scales it for more (tests/conftest.py).
pytestmark = [pytest.mark.crash, pytest.mark.timeout(900)]

#: Trials per storage backend when DOCKYARD_GC_CRASH_TRIALS is unset (CI). The issue asks
#: for 20 within 8 minutes; a trial costs an estimated 15 s in CI (18 s measured before the
#: single HTTP worker; mostly the restart), so 15 per backend is what fits
#: (docs/performance.md has the figures).
CI_TRIALS = 15
REPOS = ("gcloop/a", "gcloop/b")
#: The kill comes this long (seeded) after the trial's first acknowledged push, so every
#: trial has writes to lose: on a loaded machine (and against moto) the first push after a
#: restart can take seconds, and a delay from the trial's start often killed before any.
KILL_DELAY = (0.5, 3.0)
#: A trial whose first push takes longer than this is killed then anyway.
FIRST_PUSH_LIMIT = 60.0
GRACE_SECONDS = 1.0
GC_ENV = {
    "DOCKYARD_GC_GRACE_SECONDS": str(GRACE_SECONDS),
    "DOCKYARD_GC_INTERVAL_HOURS": "0",
    "DOCKYARD_GC_LEASE_SECONDS": "3",
}
TIMEOUT = 10.0
PUSHERS = 3
SHARED_LAYERS = 4
#: Images the deleter lets accumulate before it deletes as fast as it can: every trial
#: verifies every live image, so this bounds a trial's time however many there are.
LIVE_TARGET = 60
#: Pushes refused for these reasons acknowledged nothing (a reclaimed blob, a lost race).
REFUSALS = {"MANIFEST_BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN", "BLOB_UNKNOWN"}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    repo: str
    digest: str
    body: bytes
    blobs: dict[str, bytes]


@dataclass
class Ledger:
    """What the clients were told: images that must pull, and those that may or may not."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    live: dict[tuple[str, str], Image] = field(default_factory=dict)
    maybe: dict[tuple[str, str], Image] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, amount: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + amount

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def shared_layer(index: int) -> bytes:
    return random.Random(f"shared-{index}").randbytes(40_000)


class Worker(threading.Thread):
    def __init__(self, name: str, url: str, headers: dict[str, str], ledger: Ledger) -> None:
        super().__init__(name=name, daemon=True)
        self.http = httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT)
        self.ledger = ledger
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except httpx.TransportError:
            pass  # the server was killed: this worker's last operation is in flight
        except Exception as exc:  # reported as the loop's failure
            self.ledger.error(f"{self.name}: {exc!r}")
        finally:
            self.http.close()

    def step(self) -> None:
        raise NotImplementedError


class Pusher(Worker):
    def __init__(self, index: int, trial: int, seed: int, *args: Any) -> None:
        super().__init__(f"pusher-{index}", *args)
        self.rng = random.Random(f"{seed}:{trial}:{index}")
        self.prefix = f"t{trial}-w{index}"
        self.n = 0

    def step(self) -> None:
        self.n += 1
        repo = self.rng.choice(REPOS)
        config = json.dumps({"os": "linux", "architecture": "amd64", "id": self.prefix}).encode()
        config += f" {self.n}".encode()
        layers = [shared_layer(self.rng.randrange(SHARED_LAYERS)), self.rng.randbytes(10_000)]
        blobs = {digest_of(b): b for b in [config, *layers]}
        for digest, data in blobs.items():
            if self.http.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
                continue
            resp = self.http.post(
                f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data
            )
            if resp.status_code != 201:
                self.refused_or_error(resp, f"upload {digest}")
                return
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": LAYER, "digest": digest_of(b), "size": len(b)} for b in layers
            ],
        }
        body = json.dumps(manifest).encode()
        image = Image(repo, digest_of(body), body, blobs)
        with self.ledger.lock:
            self.ledger.maybe[(repo, image.digest)] = image
        resp = self.http.put(
            f"/v2/{repo}/manifests/{self.prefix}-{self.n}",
            content=body,
            headers={"Content-Type": MANIFEST},
        )
        with self.ledger.lock:
            del self.ledger.maybe[(repo, image.digest)]
            if resp.status_code == 201:
                self.ledger.live[(repo, image.digest)] = image
        if resp.status_code == 201:
            self.ledger.count("pushed")
        else:
            self.refused_or_error(resp, "manifest put")

    def refused_or_error(self, resp: httpx.Response, what: str) -> None:
        try:
            codes = {e["code"] for e in resp.json()["errors"]}
        except (ValueError, KeyError, TypeError):
            codes = set()
        if resp.status_code < 500 and codes & REFUSALS:
            self.ledger.count("refused")
        else:
            self.ledger.error(f"{self.name} {what}: {resp.status_code} {resp.text[:300]}")


class Deleter(Worker):
    def __init__(self, trial: int, seed: int, *args: Any) -> None:
        super().__init__("deleter", *args)
        self.rng = random.Random(f"{seed}:{trial}:deleter")

    def step(self) -> None:
        with self.ledger.lock:
            keys = sorted(self.ledger.live)
            if len(keys) < 4:
                key = None
            else:
                key = self.rng.choice(keys)
                self.ledger.maybe[key] = self.ledger.live.pop(key)
        if key is None:
            time.sleep(0.05)
            return
        resp = self.http.delete(f"/v2/{key[0]}/manifests/{key[1]}")
        with self.ledger.lock:
            image = self.ledger.maybe.pop(key)
            if resp.status_code != 202:
                self.ledger.live[key] = image
        if resp.status_code == 202:
            self.ledger.count("deleted")
        else:
            self.ledger.error(f"delete {key}: {resp.status_code} {resp.text[:300]}")
        if len(keys) < LIVE_TARGET:
            time.sleep(0.05)  # above the target it keeps up with the pushers


class Collector(Worker):
    """Starts GC runs one after the other (409 while one runs: it waits)."""

    def step(self) -> None:
        resp = self.http.post("/api/v1/gc/runs", json={"dryRun": False})
        if resp.status_code == 409:
            time.sleep(0.1)
            return
        if resp.status_code != 202:
            self.ledger.error(f"gc start: {resp.status_code} {resp.text[:300]}")
            return
        run = resp.json()
        while run["status"] == "running" and not self.stop.is_set():
            time.sleep(0.1)
            run = self.http.get(f"/api/v1/gc/runs/{run['id']}").json()
        if run["status"] == "succeeded":
            self.ledger.count("gc_runs")
            self.ledger.count("gc_blobs_deleted", run["blobsDeleted"] + run["orphansDeleted"])
        elif run["status"] != "running":
            self.ledger.error(f"gc run {run['id']}: {run['status']} {run['error']}")


def registry_headers(server: DockyardServer) -> dict[str, str]:
    scopes = [("scope", f"repository:{r}:pull,push,delete") for r in REPOS]
    resp = httpx.get(
        f"{server.url}/auth/token",
        params=[("service", "dockyard"), *scopes],
        auth=server.admin,
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def api_headers(server: DockyardServer) -> dict[str, str]:
    resp = httpx.post(
        f"{server.url}/api/v1/auth/signin",
        json={"username": server.admin_user, "password": server.admin_password},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def pulls_completely(http: httpx.Client, image: Image, pulled: set[tuple[str, str]]) -> str | None:
    """None when the image is there with every byte right; else what is wrong.

    ``pulled`` holds the (repository, blob) pairs this pass already fetched and hashed: a
    shared layer is fetched once per repository per pass, not once per image naming it
    (every pass, after every restart, fetches it again)."""
    resp = http.get(f"/v2/{image.repo}/manifests/{image.digest}", headers={"Accept": MANIFEST})
    if resp.status_code != 200:
        return f"manifest {image.repo}@{image.digest}: {resp.status_code}"
    if resp.content != image.body:
        return f"manifest {image.repo}@{image.digest}: other bytes"
    for digest in image.blobs:
        if (image.repo, digest) in pulled:
            continue
        blob = http.get(f"/v2/{image.repo}/blobs/{digest}", follow_redirects=True)
        if blob.status_code != 200 or digest_of(blob.content) != digest:
            return f"blob {digest} of {image.repo}@{image.digest}: {blob.status_code}"
        pulled.add((image.repo, digest))
    return None


def verify(server: DockyardServer, ledger: Ledger) -> None:
    """Every image that must pull does; those in flight settle either way, atomically."""
    with httpx.Client(
        base_url=server.url, headers=registry_headers(server), timeout=TIMEOUT
    ) as http:
        pulled: set[tuple[str, str]] = set()
        for image in list(ledger.live.values()):
            if (problem := pulls_completely(http, image, pulled)) is not None:
                ledger.error(f"LOST acknowledged image: {problem}")
        for key, image in sorted(ledger.maybe.items()):
            head = http.head(f"/v2/{image.repo}/manifests/{image.digest}")
            if head.status_code == 404:
                continue
            if (problem := pulls_completely(http, image, pulled)) is not None:
                ledger.error(f"CORRUPT image in flight at the kill: {problem}")
            else:
                ledger.live[key] = image
        ledger.maybe.clear()


def run_gc(server: DockyardServer, headers: dict[str, str]) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, headers=headers, timeout=TIMEOUT) as http:
        while (resp := http.post("/api/v1/gc/runs", json={"dryRun": False})).status_code == 409:
            time.sleep(0.2)  # a run the kill cut short holds the lease until it lapses
        assert resp.status_code == 202, resp.text
        run = resp.json()
        while run["status"] == "running":
            time.sleep(0.1)
            run = http.get(f"/api/v1/gc/runs/{run['id']}").json()
    assert run["status"] == "succeeded", run
    return dict(run)


def stored_digests(server: DockyardServer, moto: MotoServer | None, bucket: str) -> set[str]:
    if moto is None:
        root = server.data_dir / "storage" / "blobs"
        return {f"{p.parent.parent.name}:{p.name}" for p in root.glob("*/*/*")}
    keys = [
        o["Key"]
        for page in moto.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if o["Key"].startswith("blobs/")
    ]
    return {f"{k.split('/')[1]}:{k.split('/')[3]}" for k in keys}


@pytest.mark.parametrize("backend", ["filesystem", "s3"])
def test_gc_kill_loop(fresh_registry: Any, backend: str, request: pytest.FixtureRequest) -> None:
    seed = env_int("DOCKYARD_GC_CRASH_SEED", random.SystemRandom().randrange(2**32))
    trials = env_int("DOCKYARD_GC_CRASH_TRIALS", CI_TRIALS)
    print(f"\ngc crash loop: backend={backend} seed={seed} trials={trials}", flush=True)
    env = dict(GC_ENV)
    moto: MotoServer | None = None
    bucket = ""
    if backend == "s3":
        moto = request.getfixturevalue("moto_server")
        bucket = moto.create_bucket()
        env |= dockyard_s3_env(moto.endpoint_url, bucket)
    server: DockyardServer = fresh_registry(workers=1, env=env)
    rng = random.Random(seed)
    ledger = Ledger()
    started = time.monotonic()

    for trial in range(trials):
        begun = time.monotonic()
        url = server.url
        reg, api = registry_headers(server), api_headers(server)
        workers: list[Worker] = [
            *(Pusher(i, trial, seed, url, reg, ledger) for i in range(PUSHERS)),
            Deleter(trial, seed, url, reg, ledger),
            Collector("collector", url, api, ledger),
        ]
        pushed = ledger.counts.get("pushed", 0)
        for w in workers:
            w.start()
        deadline = time.monotonic() + FIRST_PUSH_LIMIT
        while ledger.counts.get("pushed", 0) == pushed and time.monotonic() < deadline:
            time.sleep(0.02)
        delay = rng.uniform(*KILL_DELAY)
        time.sleep(delay)
        delay = time.monotonic() - begun
        note(server, f"gc trial {trial}: SIGKILL at +{delay:.3f}s")
        kill_group(server)
        for w in workers:
            w.stop.set()
            w.join(timeout=TIMEOUT + 5)
            assert not w.is_alive(), f"{w.name} hangs after the kill"
        killed = time.monotonic()
        server.start()
        restarted = time.monotonic()
        verify(server, ledger)
        print(
            f"gc trial {trial:3d}: kill at +{delay:.2f}s, restart {restarted - killed:.1f}s, "
            f"verify {time.monotonic() - restarted:.1f}s, "
            f"trial {time.monotonic() - begun:.1f}s, live images {len(ledger.live)}, "
            f"{dict(sorted(ledger.counts.items()))}, errors {len(ledger.errors)}",
            flush=True,
        )
        if ledger.errors:
            pytest.fail(failure(seed, trial, ledger, server), pytrace=False)

    # Unreferenced bytes are reclaimed in the end: one run condemns, one a grace later sweeps.
    api = api_headers(server)
    run_gc(server, api)
    time.sleep(GRACE_SECONDS * 1.5)
    last = run_gc(server, api)
    expected = {d for image in ledger.live.values() for d in image.blobs}
    stored = stored_digests(server, moto, bucket)
    verify(server, ledger)
    assert not ledger.errors, failure(seed, trials, ledger, server)
    assert stored == expected, (
        f"seed={seed}: {len(stored - expected)} unreclaimed, {len(expected - stored)} missing"
    )
    print(
        f"GC CRASH SUMMARY backend={backend} seed={seed} trials={trials} "
        f"{dict(sorted(ledger.counts.items()))} live_images={len(ledger.live)} "
        f"stored_blobs={len(stored)} last_run_reclaimed={last['bytesReclaimed']} "
        f"runtime={time.monotonic() - started:.0f}s",
        flush=True,
    )


def failure(seed: int, trial: int, ledger: Ledger, server: DockyardServer) -> str:
    return "\n".join(
        [
            f"gc crash loop failed: seed={seed} trial={trial} "
            f"(rerun: DOCKYARD_GC_CRASH_SEED={seed} DOCKYARD_GC_CRASH_TRIALS={trial + 1})",
            *ledger.errors[:15],
            "--- server log (tail) ---",
            server.log_tail(120),
        ]
    )
