"""The per-process instruments. Their names are the contract of the dashboard and the
alert rules in ``docs/``: rename one there too.

In multiprocess mode every value lives in the process's file of the multiprocess
directory; gauges say how the files combine (``multiprocess_mode``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Where the instruments register: what a single-process server (tests, in-process apps)
#: exposes. Under ``dockyard serve`` the multiprocess files are read instead.
LOCAL_REGISTRY = CollectorRegistry(auto_describe=True)

#: Seconds; from a manifest served from memory (~1 ms) to a large blob relayed (minutes).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)

#: The per-request instruments' names and help texts: the library's objects below and the
#: worker's own multiprocess file (``dockyard.metrics.process_file``) write the same series.
REQUESTS_NAME = "dockyard_http_requests"
REQUESTS_HELP = "HTTP requests answered, by route class, method and status."
REQUEST_DURATION_NAME = "dockyard_http_request_duration_seconds"
REQUEST_DURATION_HELP = "Time from a request's arrival until its response was handed to the server."
RECEIVED_BYTES_NAME = "dockyard_http_received_bytes"
RECEIVED_BYTES_HELP = "Request body bytes received, by route class."
SENT_BYTES_NAME = "dockyard_http_sent_bytes"
SENT_BYTES_HELP = "Response body bytes sent (or handed to the server to send), by route class."

REQUESTS = Counter(
    REQUESTS_NAME,
    REQUESTS_HELP,
    ["route", "method", "status"],
    registry=LOCAL_REGISTRY,
)
REQUEST_DURATION = Histogram(
    REQUEST_DURATION_NAME,
    REQUEST_DURATION_HELP,
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=LOCAL_REGISTRY,
)
RECEIVED_BYTES = Counter(
    RECEIVED_BYTES_NAME,
    RECEIVED_BYTES_HELP,
    ["route"],
    registry=LOCAL_REGISTRY,
)
SENT_BYTES = Counter(
    SENT_BYTES_NAME,
    SENT_BYTES_HELP,
    ["route"],
    registry=LOCAL_REGISTRY,
)
UPLOADS_IN_PROGRESS = Gauge(
    "dockyard_uploads_in_progress",
    "Blob upload requests (POST, PATCH, PUT) being received now, over live workers.",
    registry=LOCAL_REGISTRY,
    multiprocess_mode="livesum",
)
DB_CONNECTIONS_IN_USE = Gauge(
    "dockyard_db_connections_in_use",
    "Database connections checked out of the workers' pools, over live workers.",
    registry=LOCAL_REGISTRY,
    multiprocess_mode="livesum",
)
STORAGE_ERRORS = Counter(
    "dockyard_storage_errors",
    "Blob store operations that failed on the store's side, by operation.",
    ["operation"],
    registry=LOCAL_REGISTRY,
)
