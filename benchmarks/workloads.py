"""The workloads, each run against one server at a time and measured the same way."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import affinity
from benchmarks.http import Buffer, Connection, Response, add_query, split_location
from benchmarks.servers import RssSampler, Server

MB = 1e6
MIB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
LARGE_REPO = "bench/large"
SMALL_REPO = "bench/small"
TAIL = 32


@dataclass(frozen=True)
class Config:
    quick: bool
    rounds: int
    blob_size: int
    blob_count: int = 4
    chunk_size: int = 8 * MIB
    push_concurrency: tuple[int, ...] = (1, 4)
    pull_concurrency: tuple[int, ...] = (1, 8)
    pull_per_thread_c8: int = 2
    wrk_duration: int = 5
    wrk_connections: int = 32
    wrk_threads: int = 2
    small_tags: int = 20
    tiny_images: int = 500
    tiny_concurrency: int = 8
    tiny_repos: int = 50

    @classmethod
    def make(cls, quick: bool, rounds: int | None = None) -> Config:
        if quick:
            return cls(
                quick=True,
                rounds=rounds or 2,
                blob_size=32 * MIB,
                wrk_duration=1,
                tiny_images=80,
                tiny_repos=8,
            )
        return cls(quick=False, rounds=rounds or 3, blob_size=256 * MIB, wrk_duration=5)


class BenchError(RuntimeError):
    pass


def expect(resp: Response, status: int, what: str) -> Response:
    if resp.status != status:
        raise BenchError(f"{what}: expected {status}, got {resp.status}: {resp.body[:300]!r}")
    return resp


# --------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    value: Any
    wall: float
    server_cpu: float
    client_cpu: float
    peak_rss: int
    peak_pss: int = 0


def measure(
    server: Server, sampler: RssSampler, fn: Callable[[], Any], *, pin: bool = False
) -> Measured:
    """Run ``fn`` and record wall time, server CPU seconds (whole process tree, from /proc),
    this client's CPU seconds (including wrk children) and the server's peak summed RSS.
    ``pin`` runs it with the client and the server on different cores, as the single-stream
    ceilings are measured (:mod:`benchmarks.affinity`).

    Starts from a written-back page cache: a single-stream pull right after the pushes ran
    at 1.1 GB/s while the kernel flushed the reference's unsynced blobs, 1.8 GB/s alone."""
    pids = server.pids()
    from benchmarks.servers import cpu_seconds

    # Write back what earlier workloads left dirty (the reference does not fsync its pushes)
    # before the clock starts, so no server is timed against another's disk writeback.
    os.sync()
    sampler.reset()
    cpu0 = cpu_seconds(pids)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with affinity.pinned(pids) if pin else contextlib.nullcontext():
        t0 = time.perf_counter()
        value = fn()
        wall = time.perf_counter() - t0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(0.06)  # one more RSS sample after the last response
    client = (
        self1.ru_utime
        + self1.ru_stime
        - self0.ru_utime
        - self0.ru_stime
        + kids1.ru_utime
        + kids1.ru_stime
        - kids0.ru_utime
        - kids0.ru_stime
    )
    return Measured(
        value,
        wall,
        cpu_seconds(server.pids()) - cpu0,
        client,
        sampler.peak(server.name),
        sampler.pss_peak(server.name),
    )


def run_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def wrap(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------- large blobs


class BlobSource:
    """Large blobs that share one random body and differ in a 32-byte tail, so every push
    is new content for the server while digests cost one hash of the body."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.body = os.urandom(size - TAIL)
        self._prefix = hashlib.sha256(self.body)

    def blob(self, label: str) -> tuple[bytes, str]:
        tail = hashlib.sha256(label.encode()).digest()
        h = self._prefix.copy()
        h.update(tail)
        return tail, "sha256:" + h.hexdigest()

    def parts(self, tail: bytes, start: int, end: int) -> list[Buffer]:
        body_len = len(self.body)
        out: list[Buffer] = []
        if start < body_len:
            out.append(memoryview(self.body)[start : min(end, body_len)])
        if end > body_len:
            out.append(tail[max(start - body_len, 0) : end - body_len])
        return out


def push_blob(
    conn: Connection,
    headers: dict[str, str],
    repo: str,
    src: BlobSource,
    tail: bytes,
    digest: str,
    chunk: int | None,
) -> None:
    resp = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers), 202, "POST upload")
    loc = split_location(resp.header("location"))
    octet = {**headers, "Content-Type": "application/octet-stream"}
    if chunk is None:
        body = src.parts(tail, 0, src.size)
        resp = conn.request("PUT", add_query(loc, "digest", digest), octet, body)
        expect(resp, 201, "monolithic PUT")
    else:
        for start in range(0, src.size, chunk):
            end = min(start + chunk, src.size)
            resp = conn.request(
                "PATCH",
                loc,
                {**octet, "Content-Range": f"{start}-{end - 1}"},
                src.parts(tail, start, end),
            )
            loc = split_location(expect(resp, 202, "PATCH chunk").header("location"))
        expect(conn.request("PUT", add_query(loc, "digest", digest), headers), 201, "final PUT")
    if resp.header("docker-content-digest") not in ("", digest):
        raise BenchError(f"server answered digest {resp.header('docker-content-digest')}")


def push_large(
    server: Server, src: BlobSource, cfg: Config, labels: list[str], conc: int, chunked: bool
) -> list[str]:
    headers = server.auth_headers(LARGE_REPO)
    jobs: queue.Queue[tuple[bytes, str]] = queue.Queue()
    digests = []
    for label in labels:
        tail, digest = src.blob(label)
        jobs.put((tail, digest))
        digests.append(digest)

    def worker(_: int) -> None:
        conn = server.connect()
        try:
            while True:
                try:
                    tail, digest = jobs.get_nowait()
                except queue.Empty:
                    return
                push_blob(
                    conn,
                    headers,
                    LARGE_REPO,
                    src,
                    tail,
                    digest,
                    cfg.chunk_size if chunked else None,
                )
        finally:
            conn.close()

    run_threads(conc, worker)
    return digests


def pull_large(server: Server, digests: list[str], size: int, conc: int, per_thread: int) -> int:
    """GET blobs into one scratch buffer (no hashing); returns the bytes received."""
    headers = server.auth_headers(LARGE_REPO, "pull")
    counts = [0] * conc

    def worker(i: int) -> None:
        conn = server.connect()
        try:
            for k in range(per_thread):
                digest = digests[(i * per_thread + k) % len(digests)]
                resp = conn.request(
                    "GET", f"/v2/{LARGE_REPO}/blobs/{digest}", headers, discard=True
                )
                expect(resp, 200, "blob GET")
                if resp.nbytes != size:
                    raise BenchError(f"blob GET returned {resp.nbytes} bytes, expected {size}")
                counts[i] += resp.nbytes
        finally:
            conn.close()

    run_threads(conc, worker)
    return sum(counts)


def verify_pull(server: Server, digests: list[str], required_header: str | None = None) -> None:
    """The separate correctness pass: every pulled blob hashes to its digest (and, when
    ``required_header`` is given, its response carries that header: for the nginx front,
    proof that nginx sent the file rather than Dockyard)."""
    headers = server.auth_headers(LARGE_REPO, "pull")
    conn = server.connect()
    try:
        for digest in digests:
            resp = expect(
                conn.request("GET", f"/v2/{LARGE_REPO}/blobs/{digest}", headers), 200, "blob GET"
            )
            got = "sha256:" + hashlib.sha256(resp.body).hexdigest()
            if got != digest:
                raise BenchError(f"{server.name} served {digest} with content {got}")
            if required_header and not resp.header(required_header):
                raise BenchError(
                    f"{server.name}: blob GET answered without {required_header} "
                    f"(headers {resp.headers})"
                )
    finally:
        conn.close()


# --------------------------------------------------------------------------- small images


@dataclass
class TinyImage:
    repo: str
    tag: str
    layer: bytes
    layer_digest: str
    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tiny_image(repo: str, tag: str, seed: str) -> TinyImage:
    layer = hashlib.shake_256(seed.encode()).digest(1024)
    layer_digest = _sha(layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "config": {"Labels": {"bench": seed}},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = _sha(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        },
        separators=(",", ":"),
    ).encode()
    return TinyImage(
        repo, tag, layer, layer_digest, config, config_digest, manifest, _sha(manifest)
    )


def push_tiny(conn: Connection, headers: dict[str, str], image: TinyImage, tags: list[str]) -> None:
    """What container clients do: HEAD each blob, POST + monolithic PUT the missing ones,
    then PUT the manifest."""
    repo = image.repo
    for data, digest in ((image.layer, image.layer_digest), (image.config, image.config_digest)):
        resp = conn.request("HEAD", f"/v2/{repo}/blobs/{digest}", headers)
        if resp.status == 200:
            continue
        expect(resp, 404, "blob HEAD")
        resp = expect(conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers), 202, "POST")
        target = add_query(split_location(resp.header("location")), "digest", digest)
        octet = {**headers, "Content-Type": "application/octet-stream"}
        expect(conn.request("PUT", target, octet, data), 201, "blob PUT")
    for tag in tags:
        resp = conn.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            {**headers, "Content-Type": OCI_MANIFEST},
            image.manifest,
        )
        expect(resp, 201, "manifest PUT")
        if resp.header("docker-content-digest") not in ("", image.manifest_digest):
            raise BenchError("manifest digest mismatch")


def tiny_images(cfg: Config, label: str) -> list[TinyImage]:
    return [
        tiny_image(f"bench/tiny-{i % cfg.tiny_repos}", f"v{i}", f"{label}-{i}")
        for i in range(cfg.tiny_images)
    ]


def push_tiny_many(server: Server, cfg: Config, images: list[TinyImage]) -> int:
    headers = {img.repo: server.auth_headers(img.repo) for img in images}  # tokens: cached
    jobs: queue.Queue[TinyImage] = queue.Queue()
    for img in images:
        jobs.put(img)

    def worker(_: int) -> None:
        conn = server.connect()
        try:
            while True:
                try:
                    img = jobs.get_nowait()
                except queue.Empty:
                    return
                push_tiny(conn, headers[img.repo], img, [img.tag])
        finally:
            conn.close()

    run_threads(cfg.tiny_concurrency, worker)
    return len(images)


def verify_tiny(server: Server, images: list[TinyImage]) -> None:
    conn = server.connect()
    try:
        for img in images[:: max(1, len(images) // 25)]:
            resp = conn.request(
                "GET",
                f"/v2/{img.repo}/manifests/{img.tag}",
                {**server.auth_headers(img.repo), "Accept": OCI_MANIFEST},
            )
            expect(resp, 200, "manifest GET")
            if _sha(resp.body) != img.manifest_digest:
                raise BenchError(f"{server.name} served a different manifest for {img.tag}")
    finally:
        conn.close()


# --------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str
    accept: str | None = None


def small_setup(server: Server, cfg: Config) -> list[Endpoint]:
    """One tiny image tagged ``latest`` and ``t0..tN`` in bench/small; the wrk targets."""
    image = tiny_image(SMALL_REPO, "latest", f"small-{server.name}")
    conn = server.connect()
    headers = server.auth_headers(SMALL_REPO)
    push_tiny(conn, headers, image, ["latest", *(f"t{i}" for i in range(cfg.small_tags))])
    endpoints = [
        Endpoint("manifest_get", "GET", f"/v2/{SMALL_REPO}/manifests/latest", OCI_MANIFEST),
        Endpoint("blob_head", "HEAD", f"/v2/{SMALL_REPO}/blobs/{image.layer_digest}"),
        Endpoint("tags_list", "GET", f"/v2/{SMALL_REPO}/tags/list"),
        Endpoint("v2_base", "GET", "/v2/"),
    ]
    pull = server.auth_headers(SMALL_REPO, "pull")
    for ep in endpoints:
        h = {**pull, **({"Accept": ep.accept} if ep.accept else {})}
        expect(conn.request(ep.method, ep.path, h), 200, f"{ep.key} check")
    conn.close()
    return endpoints


_LUA = """
wrk.method = "{method}"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d," ..
    "\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d," ..
    "\\"p99_us\\":%d,\\"mean_us\\":%.1f,\\"max_us\\":%d}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def run_load(server: Server, cfg: Config, ep: Endpoint, duration: int) -> dict[str, float]:
    """wrk for GETs; hey for HEAD, which wrk cannot time (it waits for a body that a HEAD
    response announces but never sends)."""
    if ep.method == "HEAD":
        return run_hey(server, cfg, ep, duration)
    return run_wrk(server, cfg, ep, duration)


def run_hey(server: Server, cfg: Config, ep: Endpoint, duration: int) -> dict[str, float]:
    headers = server.auth_headers(SMALL_REPO, "pull")
    if ep.accept:
        headers["Accept"] = ep.accept
    argv = ["hey", "-z", f"{duration}s", "-c", str(cfg.wrk_connections), "-m", ep.method]
    argv += ["-t", "10", "-o", "csv", "-disable-compression"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://{server.host}:{server.port}{ep.path}")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    if proc.returncode != 0:
        raise BenchError(f"hey failed ({proc.returncode}): {proc.stderr[-800:]}")
    latencies: list[float] = []
    end = 0.0
    bad = 0
    for line in proc.stdout.splitlines()[1:]:
        cols = line.split(",")
        if len(cols) < 8:
            continue
        latency, status, offset = float(cols[0]), cols[6], float(cols[7])
        if status != "200":
            bad += 1
        latencies.append(latency)
        end = max(end, offset + latency)
    if bad or not latencies:
        raise BenchError(f"hey: {bad} non-200 responses of {len(latencies)} from {server.name}")
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": len(latencies) / end,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "mean_ms": sum(latencies) / len(latencies) * 1000,
    }


def run_wrk(server: Server, cfg: Config, ep: Endpoint, duration: int) -> dict[str, float]:
    headers = server.auth_headers(SMALL_REPO, "pull")
    if ep.accept:
        headers["Accept"] = ep.accept
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA.format(method=ep.method, headers=lines))
        script = f.name
    try:
        proc = subprocess.run(
            [
                "wrk",
                f"-t{cfg.wrk_threads}",
                f"-c{cfg.wrk_connections}",
                f"-d{max(1, duration)}s",
                "--latency",
                "--timeout",
                "10s",
                "-s",
                script,
                f"http://{server.host}:{server.port}{ep.path}",
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=False,
        )
    finally:
        Path(script).unlink()
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stdout[-800:]} {proc.stderr}")
    raw = json.loads(line.split(" ", 1)[1])
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    if errors:
        raise BenchError(f"wrk saw {errors} errors against {server.name} {ep.key}: {raw}")
    secs = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / secs,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
    }
