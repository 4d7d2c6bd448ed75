"""``python -m benchmarks replication``: replication side by side with ``skopeo copy``
(issue 17, Performance).

Per round, fresh servers: Dockyard ``a`` (the source, one background worker), Dockyard
``b`` and Debian's ``docker-registry`` (the destinations). The same images go from ``a``
to each destination twice, into repositories the destination has never seen: once by a
replication task (the clock runs from the POST to the task's ``Completed``), once by
``skopeo copy`` (``skopeo sync`` for the small images: one process, as one request makes
the tasks). The order of the two alternates between rounds.

* **One 512 MiB layer** (one image: a config and one random layer).
* **200 small images** (200 tags of one repository, 1 KiB layer each): two requests with
  a tag regex (at most 100 tags each) against one ``skopeo sync`` of the repository.
* **Same account**: a second instance of ``a``; images of 16, 128 and 512 MiB replicated
  to it. Storage is shared, so the blobs are linked, not copied: the time should not grow
  with the size.

Target: replication / skopeo ≥ 1.0 (seconds of skopeo over seconds of replication).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.common import log, write_result
from benchmarks.http import Connection, add_query, split_location
from benchmarks.servers import ADMIN_PASSWORD, Dockyard, Reference, Server

MIB = 1024 * 1024
LARGE = 512 * MIB
SMALL_COUNT = 200
#: Tags per replication request (the API's limit is 100).
PER_REQUEST = 100
SAME_ACCOUNT_SIZES = (16 * MIB, 128 * MIB, 512 * MIB)
WORKER_ENV = {"DOCKYARD_BACKGROUND_POLL_SECONDS": "0.05"}
SOURCE_NS = "bench"


class Api:
    """The management API of a benchmark Dockyard as its administrator."""

    def __init__(self, server: Dockyard) -> None:
        self.server = server
        basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = self.server.connect()
        try:
            resp = conn.request(
                method,
                f"/api/v1{path}",
                self.headers,
                json.dumps(body).encode() if body is not None else None,
            )
        finally:
            conn.close()
        if resp.status >= 300:
            raise w.BenchError(f"{method} {path}: {resp.status} {resp.body[:300]!r}")
        return json.loads(resp.body) if resp.body else None

    def replicate(self, repo: str, body: dict[str, Any]) -> list[str]:
        ns, name = repo.split("/", 1)
        path = f"/instances/default/namespaces/{ns}/repositories/{name}/replication-tasks"
        return [task["id"] for task in self.call("POST", path, body)["items"]]

    def wait(self, task_ids: list[str], timeout: float = 1800) -> None:
        """Until every task is Completed (any other end is an error). One task is asked
        at a time, in the order they were made (mostly the order they end), so polling
        takes little of the server's CPU from the tasks."""
        deadline = time.monotonic() + timeout
        for task_id in task_ids:
            while True:
                task = self.call("GET", f"/instances/default/replication-tasks/{task_id}")
                if task["status"] == "Completed":
                    break
                if task["status"] in ("Failed", "Cancelled"):
                    raise w.BenchError(f"task {task_id} {task['status']}: {task['reason']}")
                if time.monotonic() > deadline:
                    raise w.BenchError(f"task {task_id} not done after {timeout:.0f}s")
                time.sleep(0.05)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put_blob(conn: Connection, headers: dict[str, str], repo: str, data: bytes) -> str:
    digest = _sha(data)
    resp = conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers)
    location = split_location(w.expect(resp, 202, "POST upload").header("location"))
    octet = {**headers, "Content-Type": "application/octet-stream"}
    w.expect(conn.request("PUT", add_query(location, "digest", digest), octet, data), 201, "PUT")
    return digest


def push_image(server: Server, repo: str, tag: str, layer_size: int, label: str) -> str:
    """An image of one random layer of ``layer_size`` bytes; its manifest digest."""
    src = w.BlobSource(layer_size)
    tail, layer_digest = src.blob(label)
    headers = server.auth_headers(repo)
    conn = server.connect()
    try:
        w.push_blob(conn, headers, repo, src, tail, layer_digest, None)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"bench": label}},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }
        ).encode()
        config_digest = _put_blob(conn, headers, repo, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": w.OCI_MANIFEST,
                "config": {"mediaType": w.OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": w.OCI_LAYER, "digest": layer_digest, "size": layer_size}],
            }
        ).encode()
        resp = conn.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            {**headers, "Content-Type": w.OCI_MANIFEST},
            manifest,
        )
        w.expect(resp, 201, "manifest PUT")
        return _sha(manifest)
    finally:
        conn.close()


def _skopeo(tmp: Path, args: list[str]) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp), "HOME": str(tmp)}
    subprocess.run(["skopeo", *args], check=True, capture_output=True, env=env)


def _creds(server: Server) -> list[str]:
    return ["--dest-creds", f"admin:{ADMIN_PASSWORD}"] if isinstance(server, Dockyard) else []


def skopeo_copy(tmp: Path, source: Dockyard, repo: str, dest: Server, dest_repo: str) -> None:
    _skopeo(
        tmp,
        [
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            f"admin:{ADMIN_PASSWORD}",
            *_creds(dest),
            f"docker://{source.host}:{source.port}/{repo}:v1",
            f"docker://{dest.host}:{dest.port}/{dest_repo}:v1",
        ],
    )


def skopeo_sync(tmp: Path, source: Dockyard, repo: str, dest: Server, dest_ns: str) -> None:
    """Every tag of ``repo`` to ``dest_ns/<repo's name>`` at ``dest``, one process."""
    _skopeo(
        tmp,
        [
            "sync",
            "--src",
            "docker",
            "--dest",
            "docker",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            f"admin:{ADMIN_PASSWORD}",
            *_creds(dest),
            f"{source.host}:{source.port}/{repo}",
            f"{dest.host}:{dest.port}/{dest_ns}",
        ],
    )


def _timed(action: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def one_round(rnd: int, tmp: Path, small_count: int, large: int) -> dict[str, float]:
    a = Dockyard("a", tmp / f"r{rnd}-a", 1, env=WORKER_ENV)
    b = Dockyard("b", tmp / f"r{rnd}-b", 1)
    ref = Reference("docker-registry", tmp / f"r{rnd}-ref")
    home = tmp / f"r{rnd}-skopeo"
    home.mkdir(parents=True)
    figures: dict[str, float] = {}
    try:
        for server in (a, b, ref):
            server.start()
        api = Api(a)
        api.call(
            "POST",
            "/instances/default/replication-remotes",
            {
                "name": "b",
                "url": f"http://{b.host}:{b.port}",
                "username": "admin",
                "secret": ADMIN_PASSWORD,
            },
        )
        api.call(
            "POST",
            "/instances/default/replication-remotes",
            {
                "name": "ref",
                "url": f"http://{ref.host}:{ref.port}",
                "username": "none",
                "secret": "none",
            },
        )
        large_repo = f"{SOURCE_NS}/large"
        push_image(a, large_repo, "v1", large, f"large-{rnd}")
        small_repo = f"{SOURCE_NS}/small"
        images = [
            w.tiny_image(small_repo, f"t{i:03d}", f"small-{rnd}-{i}") for i in range(small_count)
        ]
        conn = a.connect()
        try:
            headers = a.auth_headers(small_repo)
            for image in images:
                w.push_tiny(conn, headers, image, [image.tag])
        finally:
            conn.close()
        log(f"  round {rnd + 1}: source ready")
        for dest_name, dest in (("b", b), ("ref", ref)):
            pairs = (
                (
                    ("large", "replication", partial(replicate_large, api, large_repo, dest_name)),
                    (
                        "large",
                        "skopeo",
                        partial(skopeo_copy, home, a, large_repo, dest, "skopeo/large"),
                    ),
                ),
                (
                    (
                        "small",
                        "replication",
                        partial(replicate_small, api, small_repo, dest_name, small_count),
                    ),
                    ("small", "skopeo", partial(skopeo_sync, home, a, small_repo, dest, "skopeo")),
                ),
            )
            for pair in pairs:
                for workload, how, action in pair if rnd % 2 == 0 else pair[::-1]:
                    key = f"{workload}_{how}_{dest_name}_s"
                    figures[key] = _timed(action)
                    log(f"    {key}: {figures[key]:.2f}")
        figures.update(same_account(api, a, rnd))
    finally:
        for server in (a, b, ref):
            server.stop()
            shutil.rmtree(server.dir, ignore_errors=True)
    return figures


def replicate_large(api: Api, repo: str, to: str) -> None:
    """Tag ``v1`` of ``repo`` to ``repl/<name>`` at ``to``, until Completed."""
    api.wait(api.replicate(repo, {"tag": "v1", "to": to, "namespace": "repl"}))


def replicate_small(api: Api, repo: str, to: str, count: int) -> None:
    """Tags ``t000``… in requests of at most :data:`PER_REQUEST` tags; then every task."""
    tasks = []
    for start in range(0, count, PER_REQUEST):
        tags = _range_regex(start, min(count, start + PER_REQUEST))
        tasks += api.replicate(repo, {"tags": tags, "to": to, "namespace": "repl"})
    api.wait(tasks)


def _range_regex(start: int, end: int) -> str:
    """A regex matching exactly the tags ``t{start:03d}`` … ``t{end-1:03d}``."""
    return "|".join(f"t{i:03d}" for i in range(start, end))


def same_account(api: Api, a: Dockyard, rnd: int) -> dict[str, float]:
    """Replication to a second instance of ``a`` for each size: linking, not copying."""
    instance = api.call(
        "POST",
        "/instances",
        {"name": f"second-{rnd}", "region": "eu-west-1", "edition": "Advanced"},
    )
    warmup = f"{SOURCE_NS}/same-warmup"
    push_image(a, warmup, "v1", 1024, f"same-{rnd}-warmup")  # the first task's costs
    replicate_large(api, warmup, instance["id"])
    for size in SAME_ACCOUNT_SIZES:
        push_image(a, f"{SOURCE_NS}/same-{size // MIB}", "v1", size, f"same-{rnd}-{size}")
    # The pushes' bytes on disk first: writing them back would slow the tasks' commits.
    os.sync()
    figures = {}
    for size in SAME_ACCOUNT_SIZES:
        repo = f"{SOURCE_NS}/same-{size // MIB}"
        elapsed = _timed(partial(replicate_large, api, repo, instance["id"]))
        figures[f"same_account_{size // MIB}mib_s"] = elapsed
        log(f"    same account, {size // MIB} MiB: {elapsed:.3f}")
    return figures


def run(args: argparse.Namespace) -> int:
    quick = bool(args.quick)
    rounds = args.rounds or (1 if quick else 3)
    small_count = 50 if quick else SMALL_COUNT
    large = 64 * MIB if quick else LARGE
    date = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-replication-", dir=args.tmp))
    log(f"replication benchmark, {'quick' if quick else 'full'} mode, {rounds} rounds, temp {tmp}")
    try:
        per_round = [one_round(r, tmp, small_count, large) for r in range(rounds)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in per_round)

    summary: dict[str, Any] = {}
    for workload in ("large", "small"):
        for dest in ("b", "ref"):
            repl, skopeo = (
                med(f"{workload}_replication_{dest}_s"),
                med(f"{workload}_skopeo_{dest}_s"),
            )
            summary[f"{workload}_to_{dest}"] = {
                "replication_s": repl,
                "skopeo_s": skopeo,
                "ratio": skopeo / repl,
                "ratio_rounds": [
                    r[f"{workload}_skopeo_{dest}_s"] / r[f"{workload}_replication_{dest}_s"]
                    for r in per_round
                ],
                "target_met": skopeo / repl >= 1.0,
            }
    same = {
        f"{size // MIB} MiB": med(f"same_account_{size // MIB}mib_s") for size in SAME_ACCOUNT_SIZES
    }
    summary["same_account_s"] = same
    meta = {
        "rounds": rounds,
        "large_bytes": large,
        "small_images": small_count,
    }
    path = write_result("replication", date, quick, meta, summary, per_round)
    print(table(summary, large, small_count))
    print(f"\nraw results: {path}")
    return 0


def table(summary: dict[str, Any], large: int, small_count: int) -> str:
    names = {"b": "Dockyard", "ref": "docker-registry"}
    lines = [f"{'figure':<42} {'replication':>11} {'skopeo':>9} {'ratio':>7} {'met':>5}"]
    for workload, label in (
        ("large", f"one {large // MIB} MiB layer"),
        ("small", f"{small_count} small images"),
    ):
        for dest in ("b", "ref"):
            s = summary[f"{workload}_to_{dest}"]
            lines.append(
                f"{label + ' to ' + names[dest]:<42} {s['replication_s']:>10.2f}s "
                f"{s['skopeo_s']:>8.2f}s {s['ratio']:>7.2f} {s['target_met']!s:>5}"
            )
    lines.append("")
    lines.append(
        "same account (linked, no byte copied): "
        + ", ".join(f"{k} {v:.3f}s" for k, v in summary["same_account_s"].items())
    )
    return "\n".join(lines)
