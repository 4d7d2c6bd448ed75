"""``python -m benchmarks scale``: does Dockyard stay as fast with 100,000 repositories?

Two registries, each a fresh data directory and ``dockyard serve`` as shipped (SQLite,
filesystem blobs, token auth on; ``--workers``, default 1):

* **empty**: a small image tagged ``latest`` and ``t0..t19`` in ``bench/small``, one
  image in each of the push target repositories and in 101 more (so that its catalog page
  is full, like the seeded one's);
* **seeded**: the same data directory layout, then ``--repositories`` repositories
  (default 100,000, in namespaces of 1,000) with ``--tags`` tags each (default 10: one
  million tags) written through the domain layer's bulk path (``services/content/bulk.py``:
  batched INSERTs, real image bytes, edition limits checked), while the server is stopped.

Then, on each, the same figures: manifest GET by tag, a tags-list page (``n=5`` after the
second tag), a catalog page (``n=100`` after a name in the middle of the seeded range) with
``hey`` at ``--concurrency`` for ``--requests`` requests (req/s, p50, p99 and server CPU
milliseconds per request from ``/proc``), and a push of ``--push-images`` new tiny images
(HEAD blobs, POST + PUT blobs, PUT manifest: as container clients do) into existing
repositories; then, signed in to the console as the admin, the first page of the
namespace's repository list, the repository's page with its tags and a tag's layers page
(issue 16). It prints each figure seeded / empty; the target (issues 6, 16) is within 1.5x.

CPU per request is the robust figure on a busy machine; req/s and latencies need a quiet
one. The seeded registry holds exactly the Advanced edition's 100,000 repositories, so its
pushes go to existing repositories (new tags), and so do the empty registry's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import queue
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.common import RESULTS, ROOT, git_revision, log
from benchmarks.servers import ADMIN_PASSWORD, Dockyard, cpu_seconds

TARGET = 1.5
CATALOG_PAGE = 100
INSTANCE = "default"


def seed(data_dir: Path, repositories: int, tags: int) -> dict[str, Any]:
    """Bulk-seed a stopped Dockyard's data directory (in this process)."""
    from dockyard.metadata.session import Database
    from dockyard.services.audit import AuditLog
    from dockyard.services.content import BulkService, ContentService
    from dockyard.services.tenancy import TenancyService
    from dockyard.settings import load_settings
    from dockyard.storage.filesystem import FilesystemBlobStore

    settings = load_settings(data_dir=data_dir)

    async def run() -> dict[str, Any]:
        db = Database(settings.resolved_database_url)
        try:
            content = ContentService(
                db, FilesystemBlobStore(settings.blob_root), timedelta(hours=1)
            )
            bulk = BulkService(db, content, TenancyService(db, AuditLog(db)))
            last = [time.monotonic()]

            def progress(done: int, total: int) -> None:
                if time.monotonic() - last[0] > 10 or done == total:
                    last[0] = time.monotonic()
                    log(f"  seeded {done:,}/{total:,} repositories")

            report = await bulk.seed(
                INSTANCE,
                repositories=repositories,
                tags_per_repository=tags,
                prefix="seed",
                progress=progress,
            )
        finally:
            await db.dispose()
        return {
            "repositories": report.repositories,
            "namespaces": report.namespaces,
            "manifests": report.manifests,
            "tags": report.tags,
            "seconds": round(report.seconds, 1),
            "sample_repository": report.sample_repository,
            "tag_names": list(report.tag_names[:3]),
        }

    return asyncio.run(run())


def console_headers(server: Dockyard) -> dict[str, str]:
    """The console's session cookie for the admin: the API's session token, as the
    console's sign-in sets it."""
    conn = server.connect()
    body = json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode()
    resp = conn.request("POST", "/api/v1/auth/signin", {"Content-Type": "application/json"}, body)
    conn.close()
    if resp.status != 200:
        raise w.BenchError(f"console sign-in failed: {resp.status} {resp.body!r}")
    return {"Cookie": f"dockyard_console={json.loads(resp.body)['token']}"}


def registry_headers(server: Dockyard, scope: str, accept: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {server.token(scope)}"}
    if accept:
        headers["Accept"] = accept
    return headers


def hey_figures(
    server: Dockyard, path: str, headers: dict[str, str], requests: int, conc: int
) -> dict[str, float]:
    argv = ["hey", "-n", str(requests), "-c", str(conc), "-disable-compression", "-o", "csv"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://{server.host}:{server.port}{path}")

    def once(n: int) -> tuple[list[float], float]:
        run = [*argv[:2], str(n), *argv[3:]]
        proc = subprocess.run(run, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            raise w.BenchError(f"hey failed: {proc.stderr[-500:]}")
        latencies, end = [], 0.0
        for line in proc.stdout.splitlines()[1:]:
            cols = line.split(",")
            if len(cols) < 8:
                continue
            if cols[6] != "200":
                raise w.BenchError(f"{path}: HTTP {cols[6]}")
            latencies.append(float(cols[0]))
            end = max(end, float(cols[7]) + float(cols[0]))
        return sorted(latencies), end

    once(min(500, requests))  # warm-up
    pids = server.pids()
    cpu0 = cpu_seconds(pids)
    latencies, wall = once(requests)
    cpu = cpu_seconds(pids) - cpu0

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "rps": len(latencies) / wall,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "cpu_ms_per_request": cpu / len(latencies) * 1000,
    }


def push_figures(
    server: Dockyard, repos: list[str], images: int, conc: int, label: str
) -> dict[str, float]:
    todo: queue.Queue[w.TinyImage] = queue.Queue()
    for i in range(images):
        todo.put(w.tiny_image(repos[i % len(repos)], f"new{i}", f"{label}-{i}"))
    headers = {repo: server.auth_headers(repo) for repo in repos}

    def worker(_: int) -> None:
        conn = server.connect()
        try:
            while True:
                try:
                    img = todo.get_nowait()
                except queue.Empty:
                    return
                w.push_tiny(conn, headers[img.repo], img, [img.tag])
        finally:
            conn.close()

    pids = server.pids()
    cpu0 = cpu_seconds(pids)
    t0 = time.perf_counter()
    w.run_threads(conc, worker)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - cpu0
    return {"images_per_s": images / wall, "cpu_ms_per_image": cpu / images * 1000}


def measure(
    server: Dockyard, targets: dict[str, Any], args: argparse.Namespace, label: str
) -> dict[str, dict[str, float]]:
    repo, tag, last_tag, catalog_last = (
        targets["repo"],
        targets["tag"],
        targets["last_tag"],
        targets["catalog_last"],
    )
    pull = f"repository:{repo}:pull"
    figures = {}
    log(f"{label}: manifest GET by tag")
    figures["manifest_get"] = hey_figures(
        server,
        f"/v2/{repo}/manifests/{tag}",
        registry_headers(server, pull, w.OCI_MANIFEST),
        args.requests,
        args.concurrency,
    )
    log(f"{label}: tags list page")
    figures["tags_list_page"] = hey_figures(
        server,
        f"/v2/{repo}/tags/list?n=5&last={last_tag}",
        registry_headers(server, pull, None),
        args.requests,
        8,
    )
    log(f"{label}: catalog page")
    figures["catalog_page"] = hey_figures(
        server,
        f"/v2/_catalog?n={CATALOG_PAGE}&last={catalog_last}",
        registry_headers(server, "registry:catalog:*", None),
        args.requests,
        args.concurrency,
    )
    # The console's pages of issue 16: a namespace's repository list (the first page), a
    # repository with its tags, and a tag's layers. Fewer requests: each is a whole page.
    cookie = console_headers(server)
    namespace, name = repo.split("/", 1)
    console = f"/console/instances/{INSTANCE}/namespaces/{namespace}"
    pages = {
        "console_repositories": console,
        "console_repository": f"{console}/repositories/{name}",
        "console_tag": f"{console}/repositories/{name}/tags/{tag}",
    }
    for key, path in pages.items():
        log(f"{label}: {key}")
        figures[key] = hey_figures(
            server, path, cookie, max(50, args.requests // 10), args.concurrency
        )
    log(f"{label}: push {args.push_images} tiny images")
    figures["push"] = push_figures(
        server, targets["push_repos"], args.push_images, args.concurrency, label
    )
    return figures


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-scale-", dir=args.tmp))
    results: dict[str, Any] = {}
    push_repos = [f"seed{n:04d}/r{n * 1000 + 7:06d}" for n in range(8)]
    try:
        # --- empty registry
        empty = Dockyard("empty", tmp / "empty", args.workers).start()
        try:
            conn = empty.connect()
            small = w.tiny_image(w.SMALL_REPO, "latest", "scale-small")
            w.push_tiny(
                conn,
                empty.auth_headers(w.SMALL_REPO),
                small,
                ["latest"] + [f"t{i}" for i in range(20)],
            )
            for repo in push_repos:
                w.push_tiny(conn, empty.auth_headers(repo), w.tiny_image(repo, "v0", repo), ["v0"])
            # Enough repositories that the empty registry's catalog page is full (n=100) too:
            # both registries then answer the same amount of JSON.
            for i in range(CATALOG_PAGE + 1):
                repo = f"bench/cat-{i:03d}"
                w.push_tiny(conn, empty.auth_headers(repo), w.tiny_image(repo, "v0", repo), ["v0"])
            conn.close()
            targets = {
                "repo": w.SMALL_REPO,
                "tag": "latest",
                "last_tag": "t1",
                "catalog_last": "",
                "push_repos": push_repos,
            }
            results["empty"] = measure(empty, targets, args, "empty")
        finally:
            empty.stop()

        # --- seeded registry: first start (account, instance, admin), stop, seed, start
        seeded = Dockyard("seeded", tmp / "seeded", args.workers).start()
        seeded.stop()
        log(f"seeding {args.repositories:,} repositories x {args.tags} tags")
        seeding = seed(tmp / "seeded" / "data", args.repositories, args.tags)
        log(f"seeded in {seeding['seconds']} s")
        db = tmp / "seeded" / "data" / "dockyard.db"
        seeding["database_mib"] = round(db.stat().st_size / 2**20, 1) if db.exists() else None
        results["seeding"] = seeding
        seeded.start()
        try:
            middle = args.repositories // 2
            targets = {
                "repo": f"seed{middle // 1000:04d}/r{middle:06d}",
                "tag": "v00001" if args.tags > 1 else "v00000",
                "last_tag": "v00001",
                "catalog_last": f"seed{middle // 1000:04d}/r{middle:06d}",
                "push_repos": [r for r in push_repos if int(r.split("/r")[1]) < args.repositories],
            }
            results["seeded"] = measure(seeded, targets, args, "seeded")
        finally:
            seeded.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ratios: dict[str, dict[str, float]] = {}
    for key, fig in results["seeded"].items():
        base = results["empty"][key]
        ratios[key] = {k: fig[k] / base[k] if base[k] else float("nan") for k in fig}
    rev, dirty = git_revision()
    out = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "revision": rev,
            "dirty": dirty,
            "duration_s": round(time.monotonic() - started, 1),
            "cpus": os.cpu_count(),
            "load_at_end": os.getloadavg(),
            "args": {k: v for k, v in vars(args).items() if k != "command"},
        },
        **results,
        "ratios_seeded_over_empty": ratios,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{rev[:12]}-scale.json"
    text = json.dumps(out, indent=1) + "\n"
    path.write_text(text)
    (RESULTS / "latest-scale.json").write_text(text)
    print(table(out))
    print(f"\nraw results: {path.relative_to(ROOT)}")
    return 0


def table(out: dict[str, Any]) -> str:
    s = out["seeding"]
    lines = [
        f"seeded {s['repositories']:,} repositories, {s['tags']:,} tags, "
        f"{s['manifests']:,} manifests in {s['seconds']} s (SQLite {s.get('database_mib')} MiB)",
        "",
        f"{'figure':<22} {'measure':<20} {'empty':>10} {'seeded':>10} {'ratio':>7}  verdict",
    ]
    # Lower is better for latencies and CPU; higher for rates. The ratio shown is always
    # "how much worse" (>1 worse), so one target (<= 1.5) reads the same way for both.
    for key, fig in out["seeded"].items():
        for measure_, value in fig.items():
            base = out["empty"][key][measure_]
            higher_better = measure_ in ("rps", "images_per_s")
            worse = (base / value if value else float("inf")) if higher_better else value / base
            verdict = "within 1.5x" if worse <= TARGET else "NOT within 1.5x"
            lines.append(
                f"{key:<22} {measure_:<20} {base:>10.3f} {value:>10.3f} {worse:>7.2f}  {verdict}"
            )
    return "\n".join(lines)
