"""``python -m benchmarks gc``: garbage collection on the scale seed (issue 18).

One ``dockyard serve`` as shipped (SQLite, filesystem blobs, ``--workers`` HTTP workers,
default 1, and one background worker, which runs GC), its data directory bulk-seeded the way
``benchmarks/scale.py`` seeds it (``--repositories`` repositories, default 100,000, with
``--tags`` tags each, default 10: one million tags), then:

* **mark**: a dry-run GC through the API (``POST /api/v1/gc/runs``, ``dryRun``: it finds
  what is unreferenced and deletes nothing), its duration as the run records it, and the
  peak resident memory (``VmHWM``) of the background worker that ran it, beside that
  worker's resident memory before;
* **push latency**: ``--push-images`` tiny images pushed one after the other as clients do
  (HEAD blobs, POST + PUT the missing ones, PUT the manifest), each image timed, in three
  batches: without GC, while another client starts real GC runs back to back (each run
  marks the whole seed, which is backdated beyond the grace period), and after. The target
  is a p50 during GC within 1.5x of without.

Results go to ``benchmarks/results/<time>-gc.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.common import RESULTS, git_revision, log
from benchmarks.scale import console_headers, seed
from benchmarks.servers import Dockyard, tree_pids

TARGET = 1.5
#: No scheduled run to interfere; the default grace period (a day) stays: the pushes' own
#: blobs are young and safe, and the runs delete nothing.
GC_ENV = {"DOCKYARD_GC_INTERVAL_HOURS": "0"}
#: The seed is backdated this long, beyond the grace period, so that every run marks all of
#: it (every seeded blob is a candidate by age and is checked for references), as a daily
#: run over an old store does. Without it, the seed is younger than the grace period and a
#: run skips it.
SEED_AGE = "-2 days"


def age_seed(db: Path) -> None:
    """Backdate the seeded blobs and their repository links (SQLite's stored format kept)."""
    with sqlite3.connect(db) as conn:
        for statement in (
            "UPDATE blobs SET created_at = strftime('%Y-%m-%d %H:%M:%S', created_at, ?)"
            " || substr(created_at, 20)",
            "UPDATE repository_blobs SET created_at = "
            "strftime('%Y-%m-%d %H:%M:%S', created_at, ?) || substr(created_at, 20)",
        ):
            conn.execute(statement, (SEED_AGE,))


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def background_pid(server: Dockyard) -> int:
    """The background worker's process (``python -m dockyard.background``)."""
    assert server.proc is not None
    for pid in tree_pids(server.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"dockyard.background" in cmdline:
            return pid
    raise w.BenchError("no background worker process found")


def api_headers(server: Dockyard) -> dict[str, str]:
    token = console_headers(server)["Cookie"].split("=", 1)[1]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def gc_run(server: Dockyard, headers: dict[str, str], dry_run: bool) -> dict[str, Any]:
    """Start a run (waiting out a running one) and wait for its end."""
    conn = server.connect()
    try:
        body = json.dumps({"dryRun": dry_run}).encode()
        while (resp := conn.request("POST", "/api/v1/gc/runs", headers, body)).status == 409:
            time.sleep(0.05)
        run = json.loads(w.expect(resp, 202, "gc start").body)
        while run["status"] == "running":
            time.sleep(0.05)
            resp = conn.request("GET", f"/api/v1/gc/runs/{run['id']}", headers)
            run = json.loads(w.expect(resp, 200, "gc run").body)
    finally:
        conn.close()
    if run["status"] != "succeeded":
        raise w.BenchError(f"gc run failed: {run}")
    return dict(run)


def push_latencies(server: Dockyard, repos: list[str], images: int, label: str) -> list[float]:
    conn = server.connect()
    seconds = []
    try:
        for i in range(images):
            image = w.tiny_image(repos[i % len(repos)], f"{label}{i}", f"gc-{label}-{i}")
            headers = server.auth_headers(image.repo)
            t0 = time.perf_counter()
            w.push_tiny(conn, headers, image, [image.tag])
            seconds.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return seconds


def figures(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "images": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


def pushes_during_gc(
    server: Dockyard, headers: dict[str, str], repos: list[str], images: int
) -> tuple[list[float], list[dict[str, Any]]]:
    """The pushes while another client starts GC runs back to back (the run still going
    when the pushes end is waited for, and counted)."""
    stop = threading.Event()
    runs: list[dict[str, Any]] = []

    def collector() -> None:
        while not stop.is_set():
            runs.append(gc_run(server, headers, dry_run=False))

    thread = threading.Thread(target=collector, daemon=True)
    thread.start()
    seconds = push_latencies(server, repos, images, "during")
    stop.set()
    thread.join()
    return seconds, runs


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-gc-", dir=args.tmp))
    results: dict[str, Any] = {"revision": git_revision(), "date": time.strftime("%Y-%m-%d")}
    repos = [f"seed{n:04d}/r{n * 1000 + 7:06d}" for n in range(8)]
    repos = [r for r in repos if int(r.split("/r")[1]) < args.repositories]
    server = Dockyard("gc", tmp / "gc", args.workers, env=GC_ENV).start()
    try:
        server.stop()
        log(f"seeding {args.repositories:,} repositories x {args.tags} tags")
        results["seeding"] = seed(tmp / "gc" / "data", args.repositories, args.tags)
        log(f"seeded in {results['seeding']['seconds']} s")
        age_seed(tmp / "gc" / "data" / "dockyard.db")
        server.start()
        headers = api_headers(server)
        worker = background_pid(server)
        rss_before = _status_kib(worker, "VmRSS")
        log("mark: a dry-run GC of the whole seed")
        mark = gc_run(server, headers, dry_run=True)
        results["mark"] = {
            "seconds": mark["durationSeconds"],
            "blobs_condemned": mark["blobsCondemned"],
            "worker_rss_before_mib": round(rss_before / 1024, 1),
            "worker_peak_rss_mib": round(_status_kib(worker, "VmHWM") / 1024, 1),
        }
        log(f"  {results['mark']}")
        push_latencies(server, repos, 20, "warm")  # tokens, connections, caches
        log(f"push {args.push_images} images without GC")
        before = push_latencies(server, repos, args.push_images, "before")
        log(f"push {args.push_images} images while GC runs back to back")
        during, runs = pushes_during_gc(server, headers, repos, args.push_images)
        log(f"push {args.push_images} images after")
        after = push_latencies(server, repos, args.push_images, "after")
        push = {"without": figures(before), "during": figures(during), "after": figures(after)}
        push["gc_runs_during"] = len(runs)
        push["gc_run_seconds"] = [round(r["durationSeconds"], 2) for r in runs]
        push["p50_ratio"] = push["during"]["p50_ms"] / push["without"]["p50_ms"]
        push["p99_ratio"] = push["during"]["p99_ms"] / push["without"]["p99_ms"]
        results["push"] = push
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-gc.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"results: {out}")
    return 0


def table(out: dict[str, Any]) -> str:
    s, m, p = out["seeding"], out["mark"], out["push"]
    lines = [
        f"seeded {s['repositories']:,} repositories, {s['tags']:,} tags in {s['seconds']} s",
        f"mark (dry run): {m['seconds']:.1f} s, background worker RSS "
        f"{m['worker_rss_before_mib']} MiB before, peak {m['worker_peak_rss_mib']} MiB",
        f"{'push latency':<14} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}",
    ]
    for key in ("without", "during", "after"):
        f = p[key]
        lines.append(f"{key:<14} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {f['mean_ms']:>8.1f}")
    verdict = "ok" if p["p50_ratio"] <= TARGET else f"above {TARGET}x"
    lines.append(
        f"during / without: p50 {p['p50_ratio']:.2f}x ({verdict}), p99 {p['p99_ratio']:.2f}x; "
        f"{p['gc_runs_during']} GC runs during"
    )
    return "\n".join(lines)
