"""``python -m benchmarks``: Dockyard against the reference registry, side by side."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import ceilings, report
from benchmarks import workloads as w
from benchmarks.common import RESULTS, ROOT, git_revision, log
from benchmarks.servers import (
    NGINX_SENT_HEADER,
    NGINX_TRUSTED_PROXIES,
    Dockyard,
    NginxFront,
    Reference,
    RssSampler,
    Server,
    _which,
    cpu_seconds,
    ensure_tools,
)
from dockyard.settings import Settings

CHART = ROOT / "docs" / "benchmark.png"
MIB = 1024 * 1024


def machine_load() -> dict[str, float]:
    """Load average and CPU pressure: other work on this machine skews every figure."""
    out: dict[str, float] = {"loadavg_1m": os.getloadavg()[0]}
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        out["cpu_pressure_avg10"] = float(some[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return out


def start_servers(tmp: Path, rnd: int, workers: int) -> list[Server]:
    servers: list[Server] = [
        Reference("reference", tmp / f"r{rnd}-reference"),
        Reference("reference-b", tmp / f"r{rnd}-reference-b"),
        # Trusting nginx's address (only) for the pulls through the nginx front: the
        # benchmark's own requests come from 127.0.0.1 and are not rewritten.
        Dockyard("dockyard", tmp / f"r{rnd}-dockyard", workers, NGINX_TRUSTED_PROXIES),
    ]
    started: list[Server] = []
    try:
        for s in servers:
            s.start()  # type: ignore[attr-defined]
            started.append(s)
    except BaseException:
        for s in started:
            s.stop()
        raise
    return servers


def run_round(
    rnd: int, cfg: w.Config, tmp: Path, sampler: RssSampler, src: w.BlobSource, workers: int
) -> dict[str, Any]:
    load_before = machine_load()
    servers = start_servers(tmp, rnd, workers)
    order = servers if rnd % 2 == 0 else servers[::-1]
    log(f"round {rnd + 1}/{cfg.rounds}: order {', '.join(s.name for s in order)}")
    # nginx in front of the same Dockyard (its server and data dir): the pulls only, each
    # right after Dockyard's own. Not in ``servers``: every other workload skips it.
    dockyard = next(s for s in servers if isinstance(s, Dockyard))
    front = NginxFront(report.NGINX, tmp / f"r{rnd}-nginx", dockyard)
    everyone: list[Server] = [*servers, front]
    figs: dict[str, dict[str, float]] = {s.name: {} for s in everyone}
    client: dict[str, dict[str, float]] = {s.name: {} for s in everyone}
    peaks: dict[str, list[int]] = {s.name: [] for s in everyone}
    pss_peaks: dict[str, list[int]] = {s.name: [] for s in everyone}
    rss_by_workload: dict[str, dict[str, float]] = {s.name: {} for s in everyone}
    cpu: dict[str, dict[str, float]] = {s.name: {} for s in everyone}
    info: dict[str, Any] = {s.name: {} for s in everyone}
    large: dict[str, list[str]] = {}
    total_large = cfg.blob_count * cfg.blob_size

    def record(s: Server, name: str, m: w.Measured) -> None:
        client[s.name][name] = m.client_cpu / m.wall if m.wall else 0.0
        peaks[s.name].append(m.peak_rss)
        pss_peaks[s.name].append(m.peak_pss)
        rss_by_workload[s.name][name] = m.peak_rss / MIB
        cpu[s.name][name] = m.server_cpu

    try:
        front.start()
        sampler.watch(everyone)  # the front's sampled RSS: nginx's processes alone
        for s in everyone:
            info[s.name]["idle_rss_mib"] = sampler.peak(s.name) / MIB
            info[s.name]["idle_pss_mib"] = sampler.pss_peak(s.name) / MIB
            s.auth_headers(w.LARGE_REPO)  # token fetched before the clock starts
            s.auth_headers(w.LARGE_REPO, "pull")

        # ---- large-blob push
        push_cpu = {s.name: 0.0 for s in servers}
        push_bytes = 0
        for chunked in (False, True):
            mode = "chunked" if chunked else "mono"
            for conc in cfg.push_concurrency:
                for s in order:
                    labels = [f"{s.name}-{rnd}-{mode}-{conc}-{i}" for i in range(cfg.blob_count)]
                    m = w.measure(
                        s,
                        sampler,
                        functools.partial(w.push_large, s, src, cfg, labels, conc, chunked),
                    )
                    record(s, f"push_{mode}_c{conc}", m)
                    figs[s.name][f"push_{mode}_c{conc}_mbps"] = total_large / m.wall / w.MB
                    push_cpu[s.name] += m.server_cpu
                    large.setdefault(s.name, m.value)
                push_bytes += total_large
                log(
                    f"  push {mode} c={conc}: "
                    + ", ".join(
                        f"{s.name} {figs[s.name][f'push_{mode}_c{conc}_mbps']:.0f} MB/s"
                        for s in servers
                    )
                )
        for s in servers:
            figs[s.name]["push_cpu_s_per_gb"] = push_cpu[s.name] / (push_bytes / 1e9)

        # ---- the verification pass (every blob hashed), then the timed pulls (no hashing).
        # Verifying first also reads the blobs into the page cache for every server alike:
        # this VM evicts pages idle for about a minute, and a pull timed against the disk
        # measures the disk (docs/performance.md).
        for s in servers:
            w.verify_pull(s, large[s.name])
        # Dockyard's blobs again through nginx; each response must come from nginx's
        # internal location (X-Accel-Redirect honoured), not from Dockyard.
        w.verify_pull(front, large[dockyard.name], NGINX_SENT_HEADER)
        # The single-stream ceilings, this round, pinned as the c=1 pulls are.
        single = ceilings.single_stream(tmp, cfg.blob_size, cfg.quick)
        log("  " + ", ".join(f"{k} {v:,.0f}" for k, v in single.items()))
        pull_cpu = {s.name: 0.0 for s in everyone}
        pull_bytes = {s.name: 0 for s in everyone}
        nginx_cpu = 0.0
        for conc in cfg.pull_concurrency:
            per_thread = cfg.blob_count if conc == 1 else cfg.pull_per_thread_c8
            for s in order:
                m = w.measure(
                    s,
                    sampler,
                    functools.partial(
                        w.pull_large, s, large[s.name], cfg.blob_size, conc, per_thread
                    ),
                    pin=conc == 1,
                )
                record(s, f"pull_c{conc}", m)
                figs[s.name][f"pull_c{conc}_mbps"] = m.value / m.wall / w.MB
                pull_cpu[s.name] += m.server_cpu
                pull_bytes[s.name] += m.value
                if s is not dockyard:
                    continue
                # The same blobs through nginx, right after. Server CPU: Dockyard's and
                # nginx's; sampled RSS: nginx's (Dockyard's goes to its by-workload
                # figures, not to its peak RSS).
                nginx0 = cpu_seconds(front.nginx_pids())
                m = w.measure(
                    front,
                    sampler,
                    functools.partial(
                        w.pull_large, front, large[dockyard.name], cfg.blob_size, conc, per_thread
                    ),
                    pin=conc == 1,
                )
                nginx_cpu += cpu_seconds(front.nginx_pids()) - nginx0
                record(front, f"pull_c{conc}_nginx", m)
                rss_by_workload[dockyard.name][f"pull_c{conc}_nginx"] = (
                    sampler.peak(dockyard.name) / MIB
                )
                figs[front.name][f"pull_c{conc}_mbps"] = m.value / m.wall / w.MB
                pull_cpu[front.name] += m.server_cpu
                pull_bytes[front.name] += m.value
            log(
                f"  pull c={conc}: "
                + ", ".join(
                    f"{s.name} {figs[s.name][f'pull_c{conc}_mbps']:.0f} MB/s" for s in everyone
                )
            )
        for s in everyone:
            figs[s.name]["pull_cpu_s_per_gb"] = pull_cpu[s.name] / (pull_bytes[s.name] / 1e9)
        figs[front.name]["nginx_cpu_s_per_gb"] = nginx_cpu / (pull_bytes[front.name] / 1e9)
        figs[front.name]["nginx_peak_rss_mib"] = max(peaks[front.name]) / MIB
        figs[front.name]["nginx_peak_pss_mib"] = max(pss_peaks[front.name]) / MIB

        # ---- request rate with wrk
        endpoints = {s.name: w.small_setup(s, cfg) for s in servers}
        for idx, ep in enumerate(endpoints[servers[0].name]):
            for s in order:
                target = endpoints[s.name][idx]
                m = w.measure(
                    s, sampler, functools.partial(w.run_load, s, cfg, target, cfg.wrk_duration)
                )
                record(s, ep.key, m)
                res = m.value
                figs[s.name][f"{ep.key}_rps"] = res["rps"]
                figs[s.name][f"{ep.key}_p50_ms"] = res["p50_ms"]
                figs[s.name][f"{ep.key}_p99_ms"] = res["p99_ms"]
                figs[s.name][f"{ep.key}_cpu_us"] = m.server_cpu / res["requests"] * 1e6
            log(
                f"  {ep.key}: "
                + ", ".join(
                    f"{s.name} {figs[s.name][f'{ep.key}_rps']:.0f} req/s "
                    f"p99 {figs[s.name][f'{ep.key}_p99_ms']:.1f} ms"
                    for s in servers
                )
            )

        # ---- tiny images
        images = {s.name: w.tiny_images(cfg, f"{s.name}-{rnd}") for s in servers}
        for s in servers:  # one token per repository scope, fetched before the clock starts
            t0 = time.perf_counter()
            for repo in sorted({img.repo for img in images[s.name]}):
                s.auth_headers(repo)
            info[s.name]["token_prefetch_s"] = time.perf_counter() - t0
        for s in order:
            m = w.measure(s, sampler, functools.partial(w.push_tiny_many, s, cfg, images[s.name]))
            record(s, "tiny_push", m)
            figs[s.name]["tiny_images_per_s"] = m.value / m.wall
            figs[s.name]["tiny_cpu_ms_per_image"] = m.server_cpu / m.value * 1000
            w.verify_tiny(s, images[s.name])
        log(
            "  tiny push: "
            + ", ".join(f"{s.name} {figs[s.name]['tiny_images_per_s']:.0f} img/s" for s in servers)
        )
        for s in servers:
            figs[s.name]["peak_rss_mib"] = max(peaks[s.name]) / MIB
            figs[s.name]["peak_pss_mib"] = max(pss_peaks[s.name]) / MIB
            if isinstance(s, Dockyard) and s.token_fetches:
                info[s.name]["token_fetch_ms_median"] = statistics.median(s.token_fetches) * 1000
    finally:
        front.stop()  # before Dockyard: nginx holds connections to it
        for s in servers:
            s.stop()
        for s in everyone:
            shutil.rmtree(s.dir, ignore_errors=True)
    return {
        "round": rnd,
        "order": [s.name for s in order],
        "figures": figs,
        "ceilings": single,
        "server_cpu_s": cpu,
        "client_cpu_cores": client,
        "info": info,
        "peak_rss_mib_by_workload": rss_by_workload,
        "load": {"before": load_before, "after": machine_load()},
    }


def run(args: argparse.Namespace) -> int:
    ensure_tools()
    cfg = w.Config.make(args.quick, args.rounds)
    workers = args.workers or Settings().workers  # the shipped default unless told
    mode = "quick" if cfg.quick else "full"
    rev, dirty = git_revision()
    started = time.monotonic()
    date = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.tmp))
    load_start = machine_load()
    if load_start["loadavg_1m"] > 0.5 * (os.cpu_count() or 1):
        log(f"WARNING: this machine is busy ({load_start}); figures will be noisy")
    log(
        f"{mode} mode, {cfg.rounds} rounds, blobs {cfg.blob_count} x {cfg.blob_size // MIB} MiB, "
        f"{workers} Dockyard workers, temp {tmp}"
    )
    sampler = RssSampler()
    sampler.start()
    try:
        log("measuring machine ceilings")
        ceil = ceilings.measure(tmp, cfg.quick)
        log("  " + ", ".join(f"{k} {v:,.0f}" for k, v in ceil.items()))
        src = w.BlobSource(cfg.blob_size)
        rounds = [run_round(r, cfg, tmp, sampler, src, workers) for r in range(cfg.rounds)]
    finally:
        sampler.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    # The single-stream ceilings: medians of the rounds', like every other figure.
    for key in rounds[0]["ceilings"]:
        ceil[key] = statistics.median(r["ceilings"][key] for r in rounds)
    summary = report.summarize(rounds, ceil)
    client_cpu: dict[str, float] = {}
    for name, per_key in rounds[0]["client_cpu_cores"].items():
        for key in per_key:
            value = statistics.median(r["client_cpu_cores"][name][key] for r in rounds)
            client_cpu[key] = max(client_cpu.get(key, 0.0), value)
    result: dict[str, Any] = {
        "meta": {
            "date": date.strftime("%Y-%m-%d %H:%M:%SZ"),
            "mode": mode,
            "revision": rev,
            "dirty": dirty,
            "duration_s": round(time.monotonic() - started, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "python": platform.python_version(),
                "memory_gib": round(
                    os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
                ),
            },
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()},
            "dockyard_workers": workers,
            "dockyard_trusted_proxies": NGINX_TRUSTED_PROXIES,
            "load_at_start": load_start,
            "reference": _version(["docker-registry", "--version"]),
            "wrk": _version(["wrk", "--version"]).splitlines()[0],
            "nginx": _version([_which("nginx") or "nginx", "-v"]),
        },
        "ceilings": ceil,
        "summary": summary,
        "client_cpu_cores": client_cpu,
        "rounds": rounds,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if not cfg.quick else "-quick"
    path = RESULTS / f"{date.strftime('%Y%m%d-%H%M%S')}-{rev[:12]}{suffix}.json"
    text = json.dumps(result, indent=1, sort_keys=False) + "\n"
    path.write_text(text)
    latest = RESULTS / f"latest{suffix}.json"
    latest.write_text(text)
    print(report.table(result))
    print(f"\nraw results: {path.relative_to(ROOT)} (and {latest.relative_to(ROOT)})")
    if not cfg.quick or args.chart:
        report.draw_chart(latest, CHART)
        print(f"chart: {CHART.relative_to(ROOT)}")
    print(f"took {result['meta']['duration_s']:.0f} s")
    return 0


def _version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return (proc.stdout or proc.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark Dockyard against the reference registry (docker-registry).",
    )
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--quick", action="store_true", help="quick mode: smaller sizes, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds (default: 3 full, 2 quick)")
    parser.add_argument("--tmp", help="parent directory of the data directories")
    parser.add_argument(
        "--chart", action="store_true", help="also redraw docs/benchmark.png in quick mode"
    )
    parser.add_argument(
        "--workers", type=int, help="Dockyard worker processes (default: what serve starts)"
    )
    chart = sub.add_parser("chart", help="redraw docs/benchmark.png from a results JSON")
    chart.add_argument("json", nargs="?", default=str(RESULTS / "latest.json"))
    md = sub.add_parser("table", help="print a results JSON as a Markdown table")
    md.add_argument("json", nargs="?", default=str(RESULTS / "latest.json"))
    prof = sub.add_parser("profile", help="py-spy profiles of Dockyard under load")
    prof.add_argument("--seconds", type=int, default=15)
    prof.add_argument("--out", default=str(RESULTS / "tmp"))
    prof.add_argument("--top", type=int, default=25)
    trig = sub.add_parser(
        "triggers", help="webhook triggers: push cost (A/A), delivery throughput and lag"
    )
    trig.add_argument("--quick", action="store_true", help="quick mode")
    trig.add_argument("--rounds", type=int, help="rounds of the push comparison")
    trig.add_argument("--tmp", help="parent directory of the data directories")
    scanning = sub.add_parser(
        "scanning", help="image scanning: push cost (A/A), scan throughput, re-match time"
    )
    scanning.add_argument("--quick", action="store_true", help="quick mode")
    scanning.add_argument("--rounds", type=int, help="rounds of the push comparison")
    scanning.add_argument("--tmp", help="parent directory of the data directories")
    cpu = sub.add_parser("cpu", help="server CPU time per request of the hot read paths")
    cpu.add_argument("--requests", type=int, default=10_000)
    cpu.add_argument("--concurrency", type=int, default=8)
    cpu.add_argument("--repeat", type=int, default=3)
    cpu.add_argument("--only", nargs="*", help="endpoint keys (manifest_get blob_head ...)")
    cpu.add_argument("--json", help="also write the figures to this JSON file")
    repl = sub.add_parser("replication", help="replication against skopeo copy, side by side")
    repl.add_argument("--quick", action="store_true", help="quick mode: 64 MiB, 50 images")
    repl.add_argument("--rounds", type=int, help="rounds (default: 3 full, 1 quick)")
    repl.add_argument("--tmp", help="parent directory of the data directories")
    scale = sub.add_parser("scale", help="100k repositories / 1M tags against an empty registry")
    scale.add_argument("--repositories", type=int, default=100_000)
    scale.add_argument("--tags", type=int, default=10, help="tags per repository")
    scale.add_argument("--requests", type=int, default=5_000, help="per hey figure")
    scale.add_argument("--concurrency", type=int, default=32)
    scale.add_argument("--push-images", type=int, default=200)
    scale.add_argument("--workers", type=int, default=1)
    scale.add_argument("--tmp", help="parent directory of the data directories")
    gc = sub.add_parser("gc", help="GC mark time and memory, push latency during GC, at scale")
    gc.add_argument("--repositories", type=int, default=100_000)
    gc.add_argument("--tags", type=int, default=10, help="tags per repository")
    gc.add_argument("--push-images", type=int, default=200)
    gc.add_argument("--workers", type=int, default=1)
    gc.add_argument("--tmp", help="parent directory of the data directories")
    args = parser.parse_args(argv)
    if args.command == "chart":
        report.draw_chart(Path(args.json), CHART)
        print(f"chart: {CHART}")
        return 0
    if args.command == "table":
        result = json.loads(Path(args.json).read_text())
        print(report.markdown(result))
        print()
        print(report.table(result))
        return 0
    if args.command == "profile":
        from benchmarks import profile

        return profile.run(args)
    if args.command == "triggers":
        from benchmarks import triggers

        return triggers.run(args)
    if args.command == "replication":
        from benchmarks import replication

        return replication.run(args)

    if args.command == "scanning":
        from benchmarks import scanning as scanning_mod

        return scanning_mod.run(args)
    if args.command == "scale":
        from benchmarks import scale as scale_mod

        return scale_mod.run(args)
    if args.command == "gc":
        from benchmarks import gc as gc_mod

        return gc_mod.run(args)
    if args.command == "cpu":
        from benchmarks import cpu as cpu_mod

        return cpu_mod.run(args)
    return run(args)
