"""``python -m benchmarks scanning``: what scanning on push costs a push, how many images
a minute the built-in scanner gets through, and how long re-matching 1,000 stored scans
after a database import takes (issue 20, Performance).

* **Push with scanning** (A/A): per round three Dockyard servers — ``dockyard`` and
  ``dockyard-b`` without a scan policy (the A/A pair) and ``dockyard-scanning`` whose
  namespace scans on push — take the same pushes: small images of one gzip'd tar layer
  holding ``/etc/os-release`` and a dpkg status file (what syft reads), each distinct. The
  ratio scanning / off should sit in the A/A band: the scan runs in the background (syft
  still shares the machine's cores with the pushes).
* **Scan throughput**: on ``dockyard-scanning`` of the last round, the images scanned
  per minute from the first scan queued to the last one finished (default background
  concurrency, syft per image).
* **Re-match**: one image scanned, 999 copies of its scan stored beside it (each with a
  package version of its own, so no two are matched as one), then a database import: the
  time until all 1,000 scans carry the new database version (no extraction).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import shutil
import sqlite3
import statistics
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.common import log, write_result
from benchmarks.servers import ADMIN_PASSWORD, Dockyard, RssSampler

NAMESPACE = "bench"
REPOS = 4
REMATCH_SCANS = 1000
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\n'
DPKG_STATUS = (
    "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
    "Version: 3.0.11-1~deb12u1\n\n"
    "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
    "Version: 1:1.2.13.dfsg-1\n\n"
)
RECORDS = [
    {
        "id": f"DSA-BENCH-{i}",
        "modified": "2026-11-01T00:00:00Z",
        "summary": "a benchmark advisory",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }
    for i, (name, fixed) in enumerate([("openssl", "3.0.11-1~deb12u2"), ("zlib", "1:1.3-1")])
]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def debian_image(repo: str, tag: str, seed: str) -> w.TinyImage:
    """An image syft finds two Debian packages in; ``seed`` makes it distinct."""
    files = {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": DPKG_STATUS, "seed": seed}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    tar = buffer.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_sha(tar)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": w.OCI_MANIFEST,
            "config": {"mediaType": w.OCI_CONFIG, "digest": _sha(config), "size": len(config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                 "digest": _sha(layer), "size": len(layer)}
            ],
        }
    ).encode()  # fmt: skip
    return w.TinyImage(
        repo, tag, layer, _sha(layer), config, _sha(config), manifest, _sha(manifest)
    )


def api(server: Dockyard, method: str, path: str, body: Any = None) -> Any:
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    conn = server.connect()
    try:
        resp = conn.request(
            method,
            f"/api/v1{path}",
            {"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
            json.dumps(body).encode() if body is not None else b"",
        )
    finally:
        conn.close()
    if resp.status >= 300:
        raise w.BenchError(f"{method} {path}: {resp.status} {resp.body[:300]!r}")
    return json.loads(resp.body) if resp.body else None


def images_of(cfg: w.Config, label: str) -> list[w.TinyImage]:
    return [
        debian_image(f"{NAMESPACE}/app-{i % REPOS}", f"v{i}", f"{label}-{i}")
        for i in range(cfg.tiny_images)
    ]


def scans_of(server: Dockyard, repos: int) -> list[dict[str, Any]]:
    found = []
    for i in range(repos):
        path = f"/instances/default/namespaces/{NAMESPACE}/repositories/app-{i}/scans"
        page = 1
        while True:
            body = api(server, "GET", f"{path}?page={page}&pageSize=100")
            found += body["items"]
            if page * 100 >= body["total"]:
                break
            page += 1
    return found


def wait_scanned(
    server: Dockyard, count: int, timeout: float, repos: int = REPOS
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        scans = scans_of(server, repos)
        finished = [s for s in scans if s["state"] in ("done", "failed")]
        if len(finished) >= count:
            failed = [s for s in finished if s["state"] == "failed"]
            if failed:
                raise w.BenchError(f"{len(failed)} scans failed: {failed[0]['reason']}")
            return finished
        if time.monotonic() > deadline:
            raise w.BenchError(f"{len(finished)} of {count} scans finished in {timeout:.0f} s")
        time.sleep(0.5)


def _seconds(a: str, b: str) -> float:
    return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds()


def push_round(rnd: int, cfg: w.Config, tmp: Path) -> tuple[dict[str, float], float]:
    """Images per second pushed by each server; the scanning server's scans per minute."""
    servers = [
        Dockyard(name, tmp / f"r{rnd}-{name}", 1, extra_args=["--background-workers", "1"])
        for name in ("dockyard", "dockyard-b", "dockyard-scanning")
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
            images = images_of(cfg, f"{s.name}-{rnd}")
            # Every repository exists before the clock starts (its first image is not
            # scanned); then the scanning server's namespace scans on push.
            for i in range(REPOS):
                first = debian_image(f"{NAMESPACE}/app-{i}", "init", f"{s.name}-{rnd}-init-{i}")
                conn = s.connect()
                try:
                    w.push_tiny(conn, s.auth_headers(first.repo), first, ["init"])
                finally:
                    conn.close()
            if s.name == "dockyard-scanning":
                policy = f"/instances/default/namespaces/{NAMESPACE}/scan-policy"
                api(s, "PUT", policy, {"scanOnPush": True})
            m = w.measure(s, sampler, lambda s=s, images=images: w.push_tiny_many(s, cfg, images))  # type: ignore[misc]
            figures[s.name] = m.value / m.wall
            w.verify_tiny(s, images)
        scanned = wait_scanned(servers[2], cfg.tiny_images, 600 + 10 * cfg.tiny_images)
        span = _seconds(min(s["queuedAt"] for s in scanned), max(s["finishedAt"] for s in scanned))
        per_minute = len(scanned) / span * 60
        log(
            f"  round {rnd + 1}: "
            + ", ".join(f"{name} {v:.0f} img/s" for name, v in figures.items())
            + f"; {per_minute:.0f} scans/min"
        )
    finally:
        sampler.stop()
        for s in servers:
            s.stop()
            shutil.rmtree(s.dir, ignore_errors=True)
    return figures, per_minute


def rematch(tmp: Path) -> dict[str, float]:
    """Seconds from an import to 1,000 stored scans matched against it."""
    server = Dockyard("dockyard", tmp / "rematch", 1, extra_args=["--background-workers", "1"])
    try:
        server.start()
        image = debian_image(f"{NAMESPACE}/app-0", "v1", "rematch")
        conn = server.connect()
        try:
            w.push_tiny(conn, server.auth_headers(image.repo), image, ["v1"])
        finally:
            conn.close()
        api(server, "POST", "/vulndb/imports", RECORDS)
        path = f"/instances/default/namespaces/{NAMESPACE}/repositories/app-0/images/v1/scan"
        api(server, "POST", path)
        [scan] = wait_scanned(server, 1, 600, repos=1)
        db = sqlite3.connect(server.dir / "data" / "dockyard.db", timeout=60)
        try:
            (packages,) = db.execute(
                "SELECT packages FROM image_scans WHERE digest = ?", (scan["digest"],)
            ).fetchone()
            with db:
                for i in range(1, REMATCH_SCANS):
                    varied = json.loads(packages)
                    varied[0]["version"] = f"{varied[0]['version']}.{i}"
                    db.execute(
                        "INSERT INTO image_scans SELECT repository_id, ?, state, reason, "
                        "db_version, sbom_digest, os, ?, vulnerabilities, requested_by, "
                        "queued_at, finished_at FROM image_scans WHERE digest = ?",
                        (_sha(f"copy-{i}".encode()), json.dumps(varied), scan["digest"]),
                    )
            started = time.monotonic()
            version = api(server, "POST", "/vulndb/imports", RECORDS)["version"]
            deadline = started + 600
            while True:
                (behind,) = db.execute(
                    "SELECT count(*) FROM image_scans WHERE db_version < ?", (version,)
                ).fetchone()
                if behind == 0:
                    break
                if time.monotonic() > deadline:
                    raise w.BenchError(f"{behind} scans not re-matched in 600 s")
                time.sleep(0.05)
            seconds = time.monotonic() - started
        finally:
            db.close()
        return {"scans": float(REMATCH_SCANS), "seconds": seconds}
    finally:
        server.stop()


def run(args: argparse.Namespace) -> int:
    quick = bool(args.quick)
    cfg = w.Config.make(quick, args.rounds)
    cfg = dataclasses.replace(cfg, tiny_images=40 if quick else 120)
    date = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-scanning-", dir=args.tmp))
    log(f"scanning benchmark, {'quick' if quick else 'full'} mode, {cfg.rounds} rounds, {tmp}")
    try:
        log(f"re-match of {REMATCH_SCANS} stored scans")
        again = rematch(tmp)
        log(f"  {again['seconds']:.1f} s")
        rounds = [push_round(r, cfg, tmp) for r in range(cfg.rounds)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_round = [figures for figures, _ in rounds]

    def med(name: str) -> float:
        return statistics.median(r[name] for r in per_round)

    aa = [r["dockyard-b"] / r["dockyard"] for r in per_round]
    band = (min([1.0, *aa]), max([1.0, *aa]))
    ratio = med("dockyard-scanning") / med("dockyard")
    summary = {
        "push": {
            "off_img_s": med("dockyard"),
            "off_b_img_s": med("dockyard-b"),
            "scanning_img_s": med("dockyard-scanning"),
            "ratio": ratio,
            "ratio_rounds": [r["dockyard-scanning"] / r["dockyard"] for r in per_round],
            "aa_ratio": med("dockyard-b") / med("dockyard"),
            "aa_band": band,
            "verdict": "noise"
            if band[0] <= ratio <= band[1]
            else ("better" if ratio > band[1] else "worse"),
        },
        "scans_per_minute": statistics.median(p for _, p in rounds),
        "rematch": again,
    }
    meta = {
        "images": cfg.tiny_images,
        "rounds": cfg.rounds,
    }
    path = write_result("scanning", date, quick, meta, summary, per_round)
    print(table(summary))
    print(f"\nraw results: {path}")
    return 0


def table(summary: dict[str, Any]) -> str:
    p = summary["push"]
    lo, hi = p["aa_band"]
    return "\n".join(
        [
            f"{'figure':<30} {'scanning':>9} {'off':>7} {'ratio':>7} {'A/A':>6} "
            f"{'A/A band':>11} {'verdict':>8}",
            f"{'image push (img/s)':<30} {p['scanning_img_s']:>9.1f} {p['off_img_s']:>7.1f} "
            f"{p['ratio']:>7.2f} {p['aa_ratio']:>6.2f} {f'{lo:.2f}-{hi:.2f}':>11} "
            f"{p['verdict']:>8}",
            f"scan throughput: {summary['scans_per_minute']:.0f} images/min",
            f"re-match of {summary['rematch']['scans']:.0f} stored scans: "
            f"{summary['rematch']['seconds']:.1f} s",
        ]
    )
