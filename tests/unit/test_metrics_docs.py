"""The Grafana dashboard and the alert rules in docs/ name only metrics Dockyard exposes,
and the dashboard charts every one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dockyard.metrics.exposition import render
from dockyard.services.observability import RegistrySnapshot

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"
NAME = re.compile(r"\bdockyard_[a-z_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def exposed() -> dict[str, set[str]]:
    """Family name → the sample names a query can use, from a rendered scrape.

    Counters' ``_created`` timestamps (single-process mode only; the text parser reads
    them as families of their own) are not something to chart."""
    snapshot = RegistrySnapshot(
        blobs=3,
        manifests=2,
        jobs={("gc", "waiting"): 1},
        oldest_job_age_seconds={"gc": 12.0},
        outbox_lag_seconds=4.0,
        pulling_clients={"default": 1},
    )
    families = text_string_to_metric_families(render(snapshot).decode())
    return {
        f.name: {f.name + suffix for suffix in SUFFIXES.get(f.type, ("",))}
        for f in families
        if f.name.startswith("dockyard_") and not f.name.endswith("_created")
    }


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_queries() -> list[str]:
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("queries", [dashboard_queries, alert_queries])
def test_queries_name_exposed_metrics_only(queries: Callable[[], list[str]]) -> None:
    known = set().union(*exposed().values())
    used = {name for query in queries() for name in NAME.findall(query)}
    assert used, "no Dockyard metric in the queries"
    assert used <= known, f"not exposed: {sorted(used - known)}"


def test_the_dashboard_charts_every_metric() -> None:
    used = {name for query in dashboard_queries() for name in NAME.findall(query)}
    missing = [family for family, samples in exposed().items() if not samples & used]
    assert missing == []


def test_the_alerts_cover_server_errors_queue_age_and_storage_errors() -> None:
    queries = " ".join(alert_queries())
    assert 'dockyard_http_requests_total{status=~"5.."}' in queries
    assert "dockyard_job_oldest_age_seconds" in queries
    assert "dockyard_storage_errors_total" in queries
