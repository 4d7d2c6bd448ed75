"""The request middleware: counts, times and sizes each response once, including
streamed bodies, file hand-offs (pathsend) and apps that fail before answering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.metrics.instruments import LOCAL_REGISTRY
from dockyard.metrics.middleware import MetricsMiddleware

pytestmark = pytest.mark.unit

Messages = list[dict[str, Any]]


def sample(name: str, **labels: str) -> float:
    return LOCAL_REGISTRY.get_sample_value(name, labels) or 0.0


def run(app: Any, method: str, path: str, body: bytes = b"") -> Messages:
    sent: Messages = []
    incoming = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    asyncio.run(MetricsMiddleware(app)(scope, receive, send))
    return sent


def test_a_streamed_upload_is_counted_once_with_both_directions() -> None:
    path = "/v2/team/app/blobs/uploads/0f"
    labels = {"route": "upload", "method": "PATCH"}
    before = {
        "requests": sample("dockyard_http_requests_total", status="202", **labels),
        "received": sample("dockyard_http_received_bytes_total", route="upload"),
        "sent": sample("dockyard_http_sent_bytes_total", route="upload"),
        "timed": sample("dockyard_http_request_duration_seconds_count", **labels),
    }
    in_progress: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        in_progress.append(sample("dockyard_uploads_in_progress"))
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": message["body"][:3]})

    run(app, "PATCH", path, body=b"0123456789")
    assert in_progress == [1.0]
    assert sample("dockyard_uploads_in_progress") == 0.0
    assert sample("dockyard_http_requests_total", status="202", **labels) == before["requests"] + 1
    assert sample("dockyard_http_received_bytes_total", route="upload") == before["received"] + 10
    assert sample("dockyard_http_sent_bytes_total", route="upload") == before["sent"] + 5
    assert sample("dockyard_http_request_duration_seconds_count", **labels) == before["timed"] + 1


def test_a_file_handed_to_the_server_counts_its_declared_size() -> None:
    before = sample("dockyard_http_sent_bytes_total", route="blob")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/somewhere"})

    run(app, "GET", "/v2/team/app/blobs/sha256:" + "a" * 64)
    assert sample("dockyard_http_sent_bytes_total", route="blob") == before + 4096


def test_an_app_that_fails_before_answering_counts_as_500() -> None:
    labels = {"route": "manifest", "method": "GET", "status": "500"}
    before = sample("dockyard_http_requests_total", **labels)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run(app, "GET", "/v2/team/app/manifests/latest")
    assert sample("dockyard_http_requests_total", **labels) == before + 1


def test_unknown_methods_share_one_label() -> None:
    labels = {"route": "base", "method": "other", "status": "405"}
    before = sample("dockyard_http_requests_total", **labels)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for method in ("BREW", "PROPFIND"):
        run(app, method, "/v2/")
    assert sample("dockyard_http_requests_total", **labels) == before + 2
