"""Where the request middleware records: the library's instruments in one process, or,
under ``dockyard serve``, plain floats written into a multiprocess file of the worker's own.

prometheus_client's multiprocess values take a process-wide lock and ask the kernel for the
process id on every increment, behind two more layers of calls: about 1.5 µs each, and a
request makes four (duration sum and bucket, count by status, bytes sent): 13 of a manifest
GET's 112 µs of CPU in process (docs/performance.md), 7 this way. Requests are recorded on
the worker's event loop thread alone, so the values need no lock; the file is named after
the process that opened it, and an HTTP worker never forks. The file holds the same keys as
the library's own files (the metric, the sample, the labels and the help text), so
``MultiProcessCollector`` sums both alike; its name says its type
(``counter_http_<pid>.db``, ``histogram_http_<pid>.db``).
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.utils import floatToGoString

from dockyard.metrics.instruments import (
    LATENCY_BUCKETS,
    RECEIVED_BYTES,
    RECEIVED_BYTES_HELP,
    RECEIVED_BYTES_NAME,
    REQUEST_DURATION,
    REQUEST_DURATION_HELP,
    REQUEST_DURATION_NAME,
    REQUESTS,
    REQUESTS_HELP,
    REQUESTS_NAME,
    SENT_BYTES,
    SENT_BYTES_HELP,
    SENT_BYTES_NAME,
)

#: Adds an amount to one series (a counter) or observes it (a histogram).
Record = Callable[[float], None]


class RequestRecorders(Protocol):
    """The series of one label set, bound once per kind of request by the middleware."""

    def duration(self, route: str, method: str) -> Record: ...

    def requests(self, route: str, method: str, status: str) -> Record: ...

    def received(self, route: str) -> Record: ...

    def sent(self, route: str) -> Record: ...


class LibraryRecorders:
    """One process (tests, apps built in process): the instruments of ``LOCAL_REGISTRY``."""

    def duration(self, route: str, method: str) -> Record:
        return REQUEST_DURATION.labels(route, method).observe

    def requests(self, route: str, method: str, status: str) -> Record:
        return REQUESTS.labels(route, method, status).inc

    def received(self, route: str) -> Record:
        return RECEIVED_BYTES.labels(route).inc

    def sent(self, route: str) -> Record:
        return SENT_BYTES.labels(route).inc


class _FileValue:
    """One series in the worker's file; created at zero, as the library creates its own."""

    __slots__ = ("_file", "_key", "_value")

    def __init__(self, file: MmapedDict, key: str) -> None:
        self._file = file
        self._key = key
        self._value: float = file.read_value(key)[0]  # type: ignore[no-untyped-call]

    def inc(self, amount: float) -> None:
        self._value += amount
        self._file.write_value(self._key, self._value, 0.0)  # type: ignore[no-untyped-call]


class WorkerFileRecorders:
    """Under ``dockyard serve``: this worker's own counter and histogram files."""

    def __init__(self, directory: Path, pid: int) -> None:
        self._counters = MmapedDict(str(directory / f"counter_http_{pid}.db"))  # type: ignore[no-untyped-call]
        self._histograms = MmapedDict(str(directory / f"histogram_http_{pid}.db"))  # type: ignore[no-untyped-call]
        #: The histogram's upper bounds; the library adds +Inf too.
        self._bounds = [*LATENCY_BUCKETS, math.inf]

    def duration(self, route: str, method: str) -> Record:
        labels = {"route": route, "method": method}
        total = self._histogram_value("_sum", labels)
        buckets = [
            self._histogram_value("_bucket", {**labels, "le": _go_float(bound)})
            for bound in self._bounds
        ]
        bounds = self._bounds

        def observe(seconds: float) -> None:
            total.inc(seconds)
            # The first bucket whose bound is >= seconds, as the library's observe() picks.
            buckets[bisect.bisect_left(bounds, seconds)].inc(1.0)

        return observe

    def requests(self, route: str, method: str, status: str) -> Record:
        labels = {"route": route, "method": method, "status": status}
        return self._counter_value(REQUESTS_NAME, REQUESTS_HELP, labels).inc

    def received(self, route: str) -> Record:
        return self._counter_value(RECEIVED_BYTES_NAME, RECEIVED_BYTES_HELP, {"route": route}).inc

    def sent(self, route: str) -> Record:
        return self._counter_value(SENT_BYTES_NAME, SENT_BYTES_HELP, {"route": route}).inc

    def _counter_value(self, name: str, help_text: str, labels: dict[str, str]) -> _FileValue:
        return _FileValue(self._counters, _key(name, f"{name}_total", labels, help_text))

    def _histogram_value(self, suffix: str, labels: dict[str, str]) -> _FileValue:
        name = REQUEST_DURATION_NAME
        return _FileValue(
            self._histograms, _key(name, name + suffix, labels, REQUEST_DURATION_HELP)
        )


def _go_float(bound: float) -> str:
    """A bucket's ``le`` label as the library writes it (``+Inf``, ``0.005``, ``1.0``)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def _key(metric: str, sample: str, labels: dict[str, str], help_text: str) -> str:
    return mmap_key(metric, sample, list(labels), list(labels.values()), help_text)


#: One file pair per process, whatever the number of apps it builds (tests build several).
_per_process: dict[int, WorkerFileRecorders] = {}


def request_recorders(multiprocess_dir: str | None) -> RequestRecorders:
    """The worker's own files when the serving parent set a multiprocess directory."""
    if not multiprocess_dir:
        return LibraryRecorders()
    pid = os.getpid()
    recorders = _per_process.get(pid)
    if recorders is None:
        recorders = _per_process[pid] = WorkerFileRecorders(Path(multiprocess_dir), pid)
    return recorders
