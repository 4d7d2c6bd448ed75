"""``python -m benchmarks triggers``: what webhook triggers cost a push, and how fast
deliveries go out (issue 15, Performance).

* **Push with triggers** (A/A): per round three Dockyard servers — ``dockyard`` and
  ``dockyard-b`` without triggers (the A/A pair) and ``dockyard-triggers`` with 3
  triggers (mode ``every``) on every repository, delivering to a local receiver — take the
  same tiny-image push workload as the main benchmark (``workloads.push_tiny_many``). The
  ratio triggers / no triggers should sit in the A/A band: delivery never runs in the
  request (its background work still shares the machine's cores).
* **Delivery throughput**: tags pushed while no background worker runs make a backlog;
  then ``dockyard worker`` (one background worker) starts, and the figure is deliveries per
  second from its first to its last delivery at the receiver (dispatch, logging and POST
  included). Target ≥ 200/s.
* **Lag**: ``serve`` with one background worker; tags pushed at a fixed rate (200/s, or
  what the client reaches), the lag of each is the receiver's arrival time minus the push's
  acknowledgement; p50/p99/max. Target p99 < 1 s.

The receiver is ``tests/webhook_receiver.py`` (its own process, stdlib HTTP server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.webhook_receiver import Receiver

from benchmarks import workloads as w
from benchmarks.common import log, write_result
from benchmarks.http import Connection
from benchmarks.servers import ADMIN_PASSWORD, Dockyard, RssSampler

#: 127.0.0.1 admitted (refused by default), retries quick.
WEBHOOK_ENV = {
    "DOCKYARD_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8",
    "DOCKYARD_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
}
TRIGGERS_PER_REPO = 3
LAG_RATE = 200.0
THROUGHPUT_TARGET = 200.0
LAG_P99_TARGET_S = 1.0
LAG_REPO = "bench/lag"
BACKLOG_REPO = "bench/backlog"


def _api(server: Dockyard, method: str, path: str, body: dict[str, Any]) -> None:
    import base64

    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    conn = server.connect()
    try:
        resp = conn.request(
            method,
            f"/api/v1{path}",
            {"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
            json.dumps(body).encode(),
        )
    finally:
        conn.close()
    if resp.status >= 300:
        raise w.BenchError(f"{method} {path}: {resp.status} {resp.body[:300]!r}")


def add_trigger(server: Dockyard, repo: str, name: str, url: str) -> None:
    ns, rest = repo.split("/", 1)
    path = f"/instances/default/namespaces/{ns}/repositories/{rest}/triggers"
    _api(server, "POST", path, {"name": name, "url": url, "mode": "every"})


def _push_one(server: Dockyard, image: w.TinyImage, tags: list[str]) -> None:
    conn = server.connect()
    try:
        w.push_tiny(conn, server.auth_headers(image.repo), image, tags)
    finally:
        conn.close()


# -- (a) tiny push with and without triggers -------------------------------------------------


def push_round(rnd: int, cfg: w.Config, tmp: Path, receiver: Receiver) -> dict[str, float]:
    servers = [
        Dockyard("dockyard", tmp / f"r{rnd}-a", 1, extra_args=["--background-workers", "1"]),
        Dockyard("dockyard-b", tmp / f"r{rnd}-b", 1, extra_args=["--background-workers", "1"]),
        Dockyard(
            "dockyard-triggers",
            tmp / f"r{rnd}-t",
            1,
            env=WEBHOOK_ENV,
            extra_args=["--background-workers", "1"],
        ),
    ]
    figures: dict[str, float] = {}
    sampler = RssSampler()
    sampler.start()
    try:
        for s in servers:
            s.start()
        sampler.watch(servers)  # type: ignore[arg-type]
        order = servers if rnd % 2 == 0 else servers[::-1]
        for s in order:
            images = w.tiny_images(cfg, f"{s.name}-{rnd}")
            # Every repository exists (an image tagged ``init``) and, on the server with
            # triggers, carries 3 of them, before the clock starts.
            for repo in sorted({img.repo for img in images}):
                _push_one(s, w.tiny_image(repo, "init", f"{s.name}-{rnd}-{repo}"), ["init"])
                if s.name == "dockyard-triggers":
                    for i in range(TRIGGERS_PER_REPO):
                        add_trigger(s, repo, f"hook{i}", receiver.hook(f"r{rnd}-{i}"))
            m = w.measure(s, sampler, lambda s=s, images=images: w.push_tiny_many(s, cfg, images))  # type: ignore[misc]
            figures[s.name] = m.value / m.wall
            w.verify_tiny(s, images)
        log(
            f"  round {rnd + 1}: "
            + ", ".join(f"{name} {v:.0f} img/s" for name, v in figures.items())
        )
    finally:
        sampler.stop()
        for s in servers:
            s.stop()
            shutil.rmtree(s.dir, ignore_errors=True)
    return figures


# -- (b) delivery throughput and lag ------------------------------------------------------


def throughput(count: int, tmp: Path) -> dict[str, float]:
    """Deliveries per second of one background worker working through a backlog."""
    receiver = Receiver(tmp / "receiver-throughput").start()
    server = Dockyard(
        "dockyard", tmp / "throughput", 1, env=WEBHOOK_ENV, extra_args=["--background-workers", "0"]
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        image = w.tiny_image(BACKLOG_REPO, "init", "backlog")
        _push_one(server, image, ["init"])
        add_trigger(server, BACKLOG_REPO, "every", receiver.hook("backlog"))
        _push_many(server, image, [f"t{i}" for i in range(count)])
        log(f"  backlog of {count} pushes made; starting one background worker")
        env = {**os.environ, **WEBHOOK_ENV, "DOCKYARD_BACKGROUND_POLL_SECONDS": "0.05"}
        env.pop("DOCKYARD_DATABASE_URL", None)
        started = time.time()
        with open(server.dir / "worker.log", "wb") as out:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dockyard",
                    "worker",
                    "--data-dir",
                    str(server.dir / "data"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + max(120.0, count / 10)
        while len({d.delivery for d in receiver.accepted()}) < count:
            if time.monotonic() > deadline:
                raise w.BenchError(
                    f"only {len(receiver.accepted())} of {count} deliveries after "
                    f"{time.monotonic() - started:.0f}s"
                )
            time.sleep(0.2)
        arrivals = sorted(d.arrival for d in receiver.accepted())
        first, last = arrivals[0], arrivals[-1]
        return {
            "deliveries": float(count),
            "deliveries_per_s": (count - 1) / (last - first) if last > first else 0.0,
            "worker_start_to_first_s": first - started,
            "worker_start_to_last_s": last - started,
        }
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.stop()
        receiver.stop()


def _push_many(server: Dockyard, image: w.TinyImage, tags: list[str], threads: int = 8) -> None:
    """``tags`` pointed at ``image``'s manifest as fast as ``threads`` connections go."""
    jobs: queue.Queue[str] = queue.Queue()
    for tag in tags:
        jobs.put(tag)
    headers = server.auth_headers(image.repo)

    def run(_: int) -> None:
        conn = server.connect()
        try:
            while True:
                try:
                    tag = jobs.get_nowait()
                except queue.Empty:
                    return
                _put_tag(conn, headers, image, tag)
        finally:
            conn.close()

    w.run_threads(threads, run)


def _put_tag(conn: Connection, headers: dict[str, str], image: w.TinyImage, tag: str) -> None:
    resp = conn.request(
        "PUT",
        f"/v2/{image.repo}/manifests/{tag}",
        {**headers, "Content-Type": w.OCI_MANIFEST},
        image.manifest,
    )
    w.expect(resp, 201, "manifest PUT")


def lag(seconds: float, rate: float, tmp: Path) -> dict[str, float]:
    """Push→delivery lag with ``serve`` and one background worker, tags pushed at ``rate``."""
    receiver = Receiver(tmp / "receiver-lag").start()
    env = {**WEBHOOK_ENV, "DOCKYARD_BACKGROUND_POLL_SECONDS": "0.05"}
    server = Dockyard("dockyard", tmp / "lag", 1, env=env, extra_args=["--background-workers", "1"])
    try:
        server.start()
        image = w.tiny_image(LAG_REPO, "init", "lag")
        _push_one(server, image, ["init"])
        add_trigger(server, LAG_REPO, "every", receiver.hook("lag"))
        headers = server.auth_headers(LAG_REPO)
        count = int(seconds * rate)
        acked: dict[str, float] = {}
        lock = threading.Lock()
        t0 = time.monotonic() + 0.2
        wall0 = time.time() - time.monotonic()  # monotonic -> wall clock
        threads = 16
        behind = [0]

        def run(idx: int) -> None:
            conn = server.connect()
            try:
                for i in range(idx, count, threads):
                    due = t0 + i / rate
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    elif pause < -0.05:
                        behind[0] += 1
                    tag = f"t{i}"
                    _put_tag(conn, headers, image, tag)
                    with lock:
                        acked[tag] = wall0 + time.monotonic()
            finally:
                conn.close()

        w.run_threads(threads, run)
        push_wall = max(acked.values()) - (wall0 + t0)
        deadline = time.monotonic() + 120
        while len({d.json()["tag"] for d in receiver.accepted()} & set(acked)) < count:
            if time.monotonic() > deadline:
                raise w.BenchError("deliveries did not catch up within 120 s")
            time.sleep(0.2)
        first: dict[str, float] = {}
        for d in receiver.accepted():
            tag = d.json()["tag"]
            if tag in acked:
                first[tag] = min(first.get(tag, d.arrival), d.arrival)
        lags = sorted(first[t] - acked[t] for t in acked)
        return {
            "pushes": float(count),
            "push_rate_per_s": count / push_wall,
            "late_pushes": float(behind[0]),
            "lag_p50_s": statistics.median(lags),
            "lag_p99_s": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
            "lag_max_s": lags[-1],
        }
    finally:
        server.stop()
        receiver.stop()


# -- the entry point ---------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    quick = bool(args.quick)
    cfg = w.Config.make(quick, args.rounds)
    rounds = cfg.rounds
    backlog = 500 if quick else 2000
    lag_seconds = 5.0 if quick else 15.0
    date = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-triggers-", dir=args.tmp))
    log(f"triggers benchmark, {'quick' if quick else 'full'} mode, {rounds} rounds, temp {tmp}")
    receiver = Receiver(tmp / "receiver-push").start()
    try:
        per_round = [push_round(r, cfg, tmp, receiver) for r in range(rounds)]
        receiver.stop()
        log(f"delivery throughput: a backlog of {backlog}")
        thr = throughput(backlog, tmp)
        log(f"  {thr['deliveries_per_s']:.0f} deliveries/s")
        log(f"lag at {LAG_RATE:.0f} pushes/s for {lag_seconds:.0f} s")
        lags = lag(lag_seconds, LAG_RATE, tmp)
        log(f"  p50 {lags['lag_p50_s']:.3f} s, p99 {lags['lag_p99_s']:.3f} s")
    finally:
        receiver.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str) -> float:
        return statistics.median(r[name] for r in per_round)

    ratios = [r["dockyard-triggers"] / r["dockyard"] for r in per_round]
    aa = [r["dockyard-b"] / r["dockyard"] for r in per_round]
    band = (min([1.0, *aa]), max([1.0, *aa]))
    ratio = med("dockyard-triggers") / med("dockyard")
    summary = {
        "tiny_push": {
            "no_triggers_img_s": med("dockyard"),
            "no_triggers_b_img_s": med("dockyard-b"),
            "triggers_img_s": med("dockyard-triggers"),
            "ratio": ratio,
            "ratio_rounds": ratios,
            "aa_ratio": med("dockyard-b") / med("dockyard"),
            "aa_band": band,
            "verdict": "noise"
            if band[0] <= ratio <= band[1]
            else ("better" if ratio > band[1] else "worse"),
        },
        "throughput": {
            **thr,
            "target": f">= {THROUGHPUT_TARGET:.0f}/s",
            "target_met": thr["deliveries_per_s"] >= THROUGHPUT_TARGET,
        },
        "lag": {
            **lags,
            "target": f"p99 < {LAG_P99_TARGET_S:.0f} s",
            "target_met": lags["lag_p99_s"] < LAG_P99_TARGET_S,
        },
    }
    meta = {
        "tiny_images": cfg.tiny_images,
        "rounds": rounds,
    }
    path = write_result("triggers", date, quick, meta, summary, per_round)
    print(table(summary))
    print(f"\nraw results: {path}")
    return 0


def table(summary: dict[str, Any]) -> str:
    p, t, lg = summary["tiny_push"], summary["throughput"], summary["lag"]
    lo, hi = p["aa_band"]
    return "\n".join(
        [
            f"{'figure':<34} {'3 triggers':>11} {'none':>9} {'ratio':>7} {'A/A':>6} "
            f"{'A/A band':>13} {'verdict':>8}",
            f"{'tiny image push (img/s)':<34} {p['triggers_img_s']:>11.0f} "
            f"{p['no_triggers_img_s']:>9.0f} {p['ratio']:>7.2f} {p['aa_ratio']:>6.2f} "
            f"{f'{lo:.2f}-{hi:.2f}':>13} {p['verdict']:>8}",
            "",
            f"{'figure':<34} {'measured':>11} {'target':>14} {'met':>5}",
            f"{'delivery throughput, 1 worker':<34} {t['deliveries_per_s']:>9.0f}/s "
            f"{t['target']:>14} {t['target_met']!s:>5}",
            f"{'lag push->delivery p50':<34} {lg['lag_p50_s']:>10.3f}s",
            f"{'lag push->delivery p99':<34} {lg['lag_p99_s']:>10.3f}s "
            f"{lg['target']:>14} {lg['target_met']!s:>5}",
            f"{'lag max':<34} {lg['lag_max_s']:>10.3f}s",
            f"{'  at push rate':<34} {lg['push_rate_per_s']:>9.0f}/s "
            f"(asked {LAG_RATE:.0f}/s; {lg['late_pushes']:.0f} pushes sent late)",
        ]
    )
