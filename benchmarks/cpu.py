"""``python -m benchmarks cpu``: server CPU time per request of the hot read paths.

Wall-clock rates need a quiet machine; CPU seconds do not (much): they count what the
server process itself spent, whatever else the machine is doing. This starts Dockyard with
ONE worker (fresh data dir, token auth on, as shipped), pushes the small image the main
benchmark uses, then for each endpoint sends a fixed number of requests with ``hey`` (keep-
alive, concurrency 8) and reads utime + stime of the worker from ``/proc/<pid>/stat``
before and after. It prints CPU milliseconds per request and CPU seconds per 10,000
requests. Repeat with ``--repeat`` to see the spread; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import workloads as w
from benchmarks.servers import Dockyard, Server, cpu_seconds


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _worker_pid(server: Server) -> int:
    """The one HTTP worker: the leaf of the server's process tree (``serve`` supervises the
    Granian server, which runs the worker)."""
    pids = server.pids()
    parents = {_parent(pid) for pid in pids}
    leaves = [pid for pid in pids if pid not in parents]
    if len(leaves) != 1:
        raise SystemExit(f"expected one worker process, found {leaves} in {pids}")
    return leaves[0]


def hey(server: Server, ep: w.Endpoint, requests: int, concurrency: int) -> None:
    headers = server.auth_headers(w.SMALL_REPO, "pull")
    if ep.accept:
        headers["Accept"] = ep.accept
    argv = ["hey", "-n", str(requests), "-c", str(concurrency), "-m", ep.method]
    argv += ["-disable-compression", "-o", "csv"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://{server.host}:{server.port}{ep.path}")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise w.BenchError(f"hey failed: {proc.stderr[-500:]}")
    bad = sum(1 for line in proc.stdout.splitlines()[1:] if line.split(",")[6:7] != ["200"])
    if bad:
        raise w.BenchError(f"{bad} non-200 responses for {ep.key}")


def measure_cpu(
    server: Server, endpoints: list[w.Endpoint], requests: int, concurrency: int, repeat: int
) -> dict[str, dict[str, float]]:
    worker = _worker_pid(server)
    out: dict[str, dict[str, float]] = {}
    for ep in endpoints:
        hey(server, ep, min(requests, 500), concurrency)  # warm-up: caches, pools
        samples = []
        for _ in range(repeat):
            before = cpu_seconds([worker])
            hey(server, ep, requests, concurrency)
            samples.append((cpu_seconds([worker]) - before) / requests)
        per_request = statistics.median(samples)
        out[ep.key] = {
            "cpu_ms_per_request": per_request * 1000,
            "cpu_s_per_10k": per_request * 10_000,
            "min_ms": min(samples) * 1000,
            "max_ms": max(samples) * 1000,
            "requests": requests,
            "repeat": repeat,
        }
    return out


def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-cpu-", dir=args.tmp))
    server = Dockyard(
        "dockyard", tmp / "dockyard", 1, extra_args=["--background-workers", "0"]
    ).start()  # the HTTP worker alone: no background process to tell apart
    try:
        cfg = w.Config.make(True)
        endpoints = [e for e in w.small_setup(server, cfg) if not args.only or e.key in args.only]
        result = measure_cpu(server, endpoints, args.requests, args.concurrency, args.repeat)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"server CPU per request, one worker, {args.requests} requests x {args.repeat}")
    print(f"{'endpoint':<14} {'CPU ms/req':>11} {'CPU s/10k':>10} {'min-max ms':>14}")
    for key, r in result.items():
        spread = f"{r['min_ms']:.3f}-{r['max_ms']:.3f}"
        print(
            f"{key:<14} {r['cpu_ms_per_request']:>11.3f} {r['cpu_s_per_10k']:>10.2f} {spread:>14}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result})
        )
    return 0
