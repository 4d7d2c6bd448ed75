"""Garbage collection through the API: a run started (202) and followed to its end, the
record of runs, the audit row, and the actions a reader lacks. The shared server's grace
period is the default (24 h), so a run here reclaims nothing another test still uses."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import API, ApiClient, add_user, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

RUN_KEYS = {
    "id",
    "actor",
    "trigger",
    "dryRun",
    "status",
    "phase",
    "blobsDeleted",
    "bytesReclaimed",
    "blobsCondemned",
    "manifestsDeleted",
    "uploadsPurged",
    "orphansDeleted",
    "error",
    "startedAt",
    "finishedAt",
    "durationSeconds",
}


@pytest.fixture
def reader(registry: DockyardServer) -> Iterator[httpx.Client]:
    """A user of the built-in read-only policy (every cr:List*, cr:Get*)."""
    name, password = unique("gcreader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=(name, password)) as client:
        yield client


def finished(api: ApiClient, run_id: str) -> dict[str, object]:
    """The run once it is no longer running (the server executes it in the background)."""
    while True:
        run: dict[str, object] = api.ok(api.get(f"/gc/runs/{run_id}"))
        if run["status"] != "running":
            return run
        time.sleep(0.1)


def test_a_run_is_started_followed_recorded_and_audited(api: ApiClient) -> None:
    started = api.ok(api.post("/gc/runs", json={"dryRun": True}), 202)
    assert set(started) == RUN_KEYS
    assert (started["actor"], started["trigger"], started["dryRun"]) == ("admin", "manual", True)
    done = finished(api, str(started["id"]))
    assert (done["status"], done["phase"], done["error"]) == ("succeeded", "done", None)
    assert isinstance(done["durationSeconds"], float)
    runs = api.ok(api.get("/gc/runs", params={"pageSize": 100}))
    assert started["id"] in [r["id"] for r in runs["items"]]
    events = api.ok(api.get("/audit-events", params={"action": "cr:RunGarbageCollection"}))
    assert any(e["detail"]["runId"] == started["id"] for e in events["items"])
    error(api.get("/gc/runs/00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND")
    error(api.post("/gc/runs", json={"dryRun": True, "grace": 0}), 422, "VALIDATION_FAILED")


def test_a_reader_may_read_runs_but_not_start_one(api: ApiClient, reader: httpx.Client) -> None:
    assert reader.get("/gc/runs").status_code == 200
    error(reader.post("/gc/runs", json={}), 403, "DENIED")
