"""``GET /metrics``: every worker's instruments, summed, and the database's state.

The per-process instruments come from the multiprocess directory (all workers, whichever
one answers); the registry's state (blob and manifest counts, the job queue, the outbox,
pulling-client slots) is read from the database by the answering worker alone, at scrape
time, through :class:`~dockyard.services.observability.ObservabilityService`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import structlog
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Receive, Scope, Send

from dockyard.errors import DockyardError
from dockyard.metrics.access import MetricsAccess, Verdict
from dockyard.metrics.instruments import LOCAL_REGISTRY
from dockyard.services.observability import ObservabilityService, RegistrySnapshot

log = structlog.get_logger(__name__)

#: The directory the serving parent prepared; unset when the app runs in one process.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: ``gauge_livesum_1234.db``: a live-mode gauge file and the process that wrote it.
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


class SnapshotCollector(Collector):
    """The database-held state, as gauges (``None``: the database did not answer)."""

    def __init__(self, snapshot: RegistrySnapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "dockyard_metadata_up", "Whether the scrape could read the metadata database."
        )
        up.add_metric([], 0 if self.snapshot is None else 1)
        yield up
        s = self.snapshot
        if s is None:
            return
        yield GaugeMetricFamily("dockyard_blobs", "Blobs stored (distinct digests).", s.blobs)
        yield GaugeMetricFamily(
            "dockyard_manifests", "Manifests stored, over all repositories.", s.manifests
        )
        jobs = GaugeMetricFamily(
            "dockyard_jobs", "Jobs in the queue, by kind and state.", labels=["kind", "state"]
        )
        for (kind, state), count in sorted(s.jobs.items()):
            jobs.add_metric([kind, state], count)
        yield jobs
        age = GaugeMetricFamily(
            "dockyard_job_oldest_age_seconds",
            "Age of the oldest waiting or running job, by kind.",
            labels=["kind"],
        )
        for kind, seconds in sorted(s.oldest_job_age_seconds.items()):
            age.add_metric([kind], seconds)
        yield age
        yield GaugeMetricFamily(
            "dockyard_outbox_lag_seconds",
            "Age of the oldest outbox event not yet published (0: none waiting).",
            s.outbox_lag_seconds,
        )
        pulling = GaugeMetricFamily(
            "dockyard_pulling_clients",
            "Pulling-client slots in use (distinct addresses downloading), by registry instance.",
            # Not ``instance``: Prometheus gives every target that label itself.
            labels=["instance_id"],
        )
        for instance, count in sorted(s.pulling_clients.items()):
            pulling.add_metric([instance], count)
        yield pulling


def reap_dead_workers(directory: Path) -> None:
    """Drop the live-gauge values of workers that are gone (crashed, or respawned).

    A worker that stops cleanly marks itself; one that was killed cannot, so each scrape
    checks the processes behind the live-gauge files. Counters keep dead workers' counts:
    a counter must not go down.
    """
    pids = set()
    for entry in os.scandir(directory):
        match = _LIVE_GAUGE_FILE.match(entry.name)
        if match:
            pids.add(int(match.group(1)))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def mark_this_worker_dead() -> None:
    """At a worker's clean exit: its live gauges stop counting at once."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if directory:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def render(snapshot: RegistrySnapshot | None) -> bytes:
    """The text exposition: the instruments (summed over workers), then the snapshot."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if directory:
        reap_dead_workers(Path(directory))
        instruments = CollectorRegistry()
        multiprocess.MultiProcessCollector(instruments, path=directory)  # type: ignore[no-untyped-call]
    else:
        instruments = LOCAL_REGISTRY
    state = CollectorRegistry()
    state.register(SnapshotCollector(snapshot))
    return generate_latest(instruments) + generate_latest(state)


class MetricsEndpoint:
    """The ASGI handler of ``/metrics``, behind :class:`MetricsAccess`."""

    def __init__(self, access: MetricsAccess, observability: ObservabilityService) -> None:
        self.access = access
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        verdict = self.access.decide(client[0] if client else None, authorization)
        if verdict is Verdict.UNAUTHORIZED:
            await _plain(
                send, 401, b"a bearer token is required\n", [(b"www-authenticate", b"Bearer")]
            )
            return
        if verdict is Verdict.FORBIDDEN:
            await _plain(send, 403, b"metrics are not available to this address\n")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"GET only\n", [(b"allow", b"GET, HEAD")])
            return
        try:
            snapshot: RegistrySnapshot | None = await self.observability.snapshot()
        except DockyardError as exc:
            log.warning("metrics: database state unavailable", error=exc.message)
            snapshot = None
        # Reading every worker's file is blocking file I/O: off the event loop.
        body = await anyio.to_thread.run_sync(render, snapshot)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


async def _plain(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
