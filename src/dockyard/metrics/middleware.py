"""Count, time and size every HTTP request, by route class (never by raw path).

Manifest GETs run at thousands per second per worker, so the per-request work is a few
string comparisons, two clock reads and dictionary lookups of series bound on first use:
no regular expression, no ``labels()`` call after the first request of a kind, and under
``dockyard serve`` four plain writes into the worker's own file (``recorders``).
"""

from __future__ import annotations

import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.metrics.exposition import MULTIPROC_DIR_ENV
from dockyard.metrics.instruments import UPLOADS_IN_PROGRESS
from dockyard.metrics.recorders import Record, RequestRecorders, request_recorders

#: Methods named as themselves; any other becomes ``other`` (labels stay few).
KNOWN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})
#: Methods whose requests carry a body worth counting.
BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})

#: The last-but-one path segment of ``/v2/<name>/<kind>/<reference>`` → route class.
_V2_KINDS = {
    "manifests": "manifest",
    "blobs": "blob",
    "uploads": "upload",
    "referrers": "referrers",
}


def route_class(path: str) -> str:
    """The low-cardinality class of a request path.

    ``/v2/`` paths are classified by their last two segments, so a repository whose name
    contains ``manifests`` or ``blobs`` is still classified by what follows it.
    """
    if path.startswith("/v2"):
        if path in ("/v2", "/v2/"):
            return "base"
        if path == "/v2/_catalog":
            return "catalog"
        head, _, last = path.rpartition("/")
        kind = head.rpartition("/")[2]
        if kind == "blobs" and last == "uploads":
            return "upload"  # POST /v2/<name>/blobs/uploads (no trailing slash)
        if kind == "tags" and last == "list":
            return "tags"
        return _V2_KINDS.get(kind, "other")
    if path == "/auth/token":
        return "token"
    if path == "/api" or path.startswith("/api/"):
        return "api"
    if path == "/metrics":
        return "metrics"
    return "other"


class _Bound:
    """The series of one (route class, method), bound once."""

    __slots__ = ("_recorders", "duration", "method", "received", "route", "sent", "statuses")

    def __init__(self, recorders: RequestRecorders, route: str, method: str) -> None:
        self._recorders = recorders
        self.route = route
        self.method = method
        self.duration = recorders.duration(route, method)
        self.received = recorders.received(route)
        self.sent = recorders.sent(route)
        self.statuses: dict[int, Record] = {}

    def requests(self, status: int) -> Record:
        record = self.statuses.get(status)
        if record is None:
            record = self.statuses[status] = self._recorders.requests(
                self.route, self.method, str(status)
            )
        return record


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._bound: dict[tuple[str, str], _Bound] = {}
        #: Chosen on the first request, in the process that serves it.
        self._recorders: RequestRecorders | None = None

    def _children(self, route: str, method: str) -> _Bound:
        key = (route, method)
        bound = self._bound.get(key)
        if bound is None:
            if self._recorders is None:
                self._recorders = request_recorders(os.environ.get(MULTIPROC_DIR_ENV))
            bound = self._bound[key] = _Bound(self._recorders, route, method)
        return bound

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        route = route_class(scope["path"])
        bound = self._children(route, method if method in KNOWN_METHODS else "other")
        status = 500  # what the server answers when the app fails before responding
        sent = 0
        received = 0
        recorded = False
        upload = route == "upload" and method in BODY_METHODS
        start_headers: list[tuple[bytes, bytes]] = []

        async def counting_send(message: Message) -> None:
            nonlocal status, sent, start_headers, recorded
            kind = message["type"]
            final = False
            if kind == "http.response.body":
                sent += len(message.get("body", b""))
                final = not message.get("more_body", False)
            elif kind == "http.response.start":
                status = message["status"]
                start_headers = message.get("headers", [])
            elif kind == "http.response.pathsend":
                sent += _content_length(start_headers)
                final = True
            if final and not recorded:
                # Before the last bytes leave: a scrape that follows a response the client
                # has received, on any worker, counts it.
                recorded = True
                _record(bound, started, status, received, sent, upload)
            await send(message)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        if upload:
            UPLOADS_IN_PROGRESS.inc()
        try:
            await self.app(
                scope, counting_receive if method in BODY_METHODS else receive, counting_send
            )
        finally:
            if not recorded:  # the app failed, or the client left, before the response ended
                _record(bound, started, status, received, sent, upload)


def _record(
    bound: _Bound, started: float, status: int, received: int, sent: int, upload: bool
) -> None:
    if upload:
        UPLOADS_IN_PROGRESS.dec()
    bound.duration(time.perf_counter() - started)
    bound.requests(status)(1.0)
    if received:
        bound.received(received)
    if sent:
        bound.sent(sent)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    """A file response's declared size: what a ``pathsend`` hands to the server."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
