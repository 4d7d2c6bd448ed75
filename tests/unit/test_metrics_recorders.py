"""A worker's own metrics file exposes exactly what the library's instruments expose for
the same requests: same series, labels (bucket bounds included) and values."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess

from dockyard.metrics.instruments import LOCAL_REGISTRY
from dockyard.metrics.recorders import LibraryRecorders, RequestRecorders, WorkerFileRecorders

pytestmark = pytest.mark.unit

#: A route class no other test records, so the library's process-wide series are ours alone.
ROUTE = "recorders-test"
#: Below the first bound, exactly on a bound, between bounds, beyond the last finite one.
DURATIONS = (0.0004, 0.001, 0.3, 0.3, 1000.0)

Samples = set[tuple[str, tuple[tuple[str, str], ...], float]]


def record(recorders: RequestRecorders) -> None:
    observe = recorders.duration(ROUTE, "GET")
    for seconds in DURATIONS:
        observe(seconds)
    recorders.requests(ROUTE, "GET", "200")(3.0)
    recorders.requests(ROUTE, "GET", "404")(1.0)
    recorders.requests(ROUTE, "HEAD", "200")  # bound, never incremented: exposed as 0
    recorders.sent(ROUTE)(512.0)
    recorders.received(ROUTE)(0.0)


def samples(registry: CollectorRegistry) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for metric in registry.collect()
        for s in metric.samples
        if s.labels.get("route") == ROUTE and not s.name.endswith("_created")
    }


def test_the_worker_file_exposes_what_the_library_does(tmp_path: Path) -> None:
    record(LibraryRecorders())
    record(WorkerFileRecorders(tmp_path, 4242))
    from_files = CollectorRegistry()
    multiprocess.MultiProcessCollector(from_files, path=str(tmp_path))  # type: ignore[no-untyped-call]

    expected = samples(LOCAL_REGISTRY)
    assert (
        "dockyard_http_request_duration_seconds_count",
        (("method", "GET"), ("route", ROUTE)),
        5.0,
    ) in expected
    assert samples(from_files) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_http_4242.db",
        "histogram_http_4242.db",
    ]
