"""``/metrics`` on a real two-worker ``dockyard serve``: scraped with Prometheus's own
parser, counters sum both workers whichever one answers the scrape, and access follows
the token, the CIDR allowlist and the trusted-proxy client address."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import DockyardServer
from tests.e2e.regclient import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    digest_of,
    random_bytes,
    worker_pid,
)

pytestmark = pytest.mark.e2e

TOKEN = "scrape-" + "x" * 24
BEARER = {"Authorization": f"Bearer {TOKEN}"}
#: Allowed to scrape by address; reaches the server as X-Forwarded-For from a trusted proxy.
SCRAPER = "198.51.100.7"
#: Requests of one kind sent until both workers answered this many (and no more than CAP).
PER_WORKER = 5
CAP = 400

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    """Two workers; loopback is a trusted proxy; scrapers: SCRAPER's network or TOKEN."""
    dockyard = DockyardServer(
        tmp_path_factory.mktemp("dockyard-metrics"),
        workers=2,
        env={
            "DOCKYARD_METRICS_TOKEN": TOKEN,
            "DOCKYARD_METRICS_ALLOWED_CIDRS": "198.51.100.0/24",
        },
        extra_args=["--trusted-proxies", "127.0.0.1/32"],
    )
    dockyard.start()
    try:
        yield dockyard
    finally:
        dockyard.stop()


def _fresh(server: DockyardServer) -> httpx.Client:
    """A client whose every request opens its own connection (so either worker answers)."""
    return httpx.Client(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    )


def _answered(
    server: DockyardServer, http: httpx.Client, request: httpx.Request
) -> tuple[httpx.Response, int | None]:
    """The response, and the worker that sent it (asked while its connection is open)."""
    assert server.proc is not None
    resp = http.send(request, stream=True)
    try:
        pid = worker_pid(server.port, server.proc.pid, resp)
        resp.read()
    finally:
        resp.close()
    return resp, pid


def _scrape(http: httpx.Client, server: DockyardServer) -> tuple[Samples, int | None]:
    resp, pid = _answered(server, http, http.build_request("GET", "/metrics", headers=BEARER))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, pid


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _until_both_workers(
    server: DockyardServer, send: httpx.Client, request: httpx.Request, status: int
) -> int:
    """Send ``request`` until each worker answered PER_WORKER of them; how many were sent."""
    answered: dict[int | None, int] = {}
    sent = 0
    while sent < CAP and (len(answered) < 2 or min(answered.values()) < PER_WORKER):
        resp, pid = _answered(server, send, request)
        sent += 1
        assert resp.status_code == status, resp.text
        answered[pid] = answered.get(pid, 0) + 1
    assert None not in answered
    assert len(answered) == 2, f"one worker answered all {sent} requests"
    return sent


def _push_image(http: httpx.Client, auth: tuple[str, str], name: str) -> tuple[bytes, int]:
    """Push one layer, a config and a manifest; (manifest, layer bytes uploaded)."""
    layer = random_bytes(3000)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for blob in (layer, config):
        resp = http.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": digest_of(blob)},
            content=blob,
            headers={"Content-Type": "application/octet-stream"},
            auth=auth,
        )
        assert resp.status_code == 201, resp.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": digest_of(layer), "size": len(layer)}
            ],
        }
    ).encode()
    resp = http.put(
        f"/v2/{name}/manifests/v1",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        auth=auth,
    )
    assert resp.status_code == 201, resp.text
    return manifest, len(layer) + len(config)


def test_counters_add_up_over_both_workers(server: DockyardServer) -> None:
    with _fresh(server) as http:
        before, _ = _scrape(http, server)
        manifest, uploaded = _push_image(http, server.admin, "metrics/app")
        pulls = _until_both_workers(
            server,
            http,
            http.build_request(
                "GET",
                "/v2/metrics/app/manifests/v1",
                headers={"Accept": OCI_MANIFEST, **_basic(server)},
            ),
            200,
        )
        refused = _until_both_workers(server, http, http.build_request("GET", "/v2/"), 401)

        scraped_by: set[int | None] = set()
        scrapes = 0
        while scrapes < CAP and (len(scraped_by) < 2 or scrapes < 6):
            after, pid = _scrape(http, server)
            scrapes += 1
            scraped_by.add(pid)

            def delta(name: str, after: Samples = after, **labels: str) -> float:
                return _value(after, name, **labels) - _value(before, name, **labels)

            get = {"route": "manifest", "method": "GET"}
            assert delta("dockyard_http_requests_total", status="200", **get) == pulls
            assert delta("dockyard_http_request_duration_seconds_count", **get) == pulls
            assert delta("dockyard_http_request_duration_seconds_bucket", le="+Inf", **get) == pulls
            base = {"route": "base", "method": "GET"}
            assert delta("dockyard_http_requests_total", status="401", **base) == refused
            post = {"route": "upload", "method": "POST"}
            assert delta("dockyard_http_requests_total", status="201", **post) == 2
            put = {"route": "manifest", "method": "PUT"}
            assert delta("dockyard_http_requests_total", status="201", **put) == 1
            assert delta("dockyard_http_sent_bytes_total", route="manifest") == (
                pulls * len(manifest)
            )
            assert delta("dockyard_http_received_bytes_total", route="upload") == uploaded
            assert delta("dockyard_http_received_bytes_total", route="manifest") == len(manifest)
            # Every earlier scrape is counted too, whichever worker answered it.
            assert (
                delta("dockyard_http_requests_total", route="metrics", method="GET", status="200")
                == scrapes
            )
            # Gauges: nothing is uploading now; the database's state, read once per scrape.
            assert _value(after, "dockyard_uploads_in_progress") == 0
            assert _value(after, "dockyard_metadata_up") == 1
            assert _value(after, "dockyard_blobs") == 2
            assert _value(after, "dockyard_manifests") == 1
            assert _value(after, "dockyard_outbox_lag_seconds") >= 0
            assert _value(after, "dockyard_storage_errors_total", operation="body") == 0
        assert None not in scraped_by
        assert len(scraped_by) == 2, f"one worker answered all {scrapes} scrapes"


def _basic(server: DockyardServer) -> dict[str, str]:
    credentials = base64.b64encode(":".join(server.admin).encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def test_a_token_or_an_allowed_network_is_required(server: DockyardServer) -> None:
    with _fresh(server) as http:
        # Loopback is not enough once an allowlist or a token is configured.
        resp = http.get("/metrics")
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        assert http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}0"}).status_code == (
            401
        )
        assert http.get("/metrics", headers=BEARER).status_code == 200
        # The trusted proxy (loopback) reports the client: the allowlisted scraper gets in,
        # an outsider does not, unless it has the token.
        assert http.get("/metrics", headers={"X-Forwarded-For": SCRAPER}).status_code == 200
        outsider = {"X-Forwarded-For": "203.0.113.9"}
        assert http.get("/metrics", headers=outsider).status_code == 401
        assert http.get("/metrics", headers={**outsider, **BEARER}).status_code == 200
        # Refusals say nothing about the registry.
        assert "dockyard_" not in http.get("/metrics", headers=outsider).text


def test_loopback_may_scrape_when_nothing_is_configured(registry: DockyardServer) -> None:
    resp = httpx.get(f"{registry.url}/metrics")
    assert resp.status_code == 200
    names = {family.name for family in text_string_to_metric_families(resp.text)}
    assert {"dockyard_http_requests", "dockyard_metadata_up", "dockyard_blobs"} <= names
