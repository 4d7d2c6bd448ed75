"""Background jobs through the API: filters, paging, retry, conflicts and permissions."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import API, ApiClient, add_user, error, unique
from tests.conftest import DockyardServer

from dockyard.metadata.session import Database
from dockyard.services.jobs import JobQueue

pytestmark = pytest.mark.e2e

ITEM_KEYS = {
    "id",
    "kind",
    "state",
    "attempts",
    "lastError",
    "orderingKey",
    "createdAt",
    "updatedAt",
    "runAfter",
}


@pytest.fixture
def kind() -> str:
    """A job kind no background worker handles: its jobs stay where the test puts them."""
    return unique("test-kind")


def queue_jobs(server: DockyardServer, kind: str, *, failed: int, running: int) -> list[str]:
    async def run() -> list[str]:
        db = Database(f"sqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            queue = JobQueue(db, "api-test", max_attempts=1)
            ids = []
            for n in range(failed + running):
                ids.append(str(await queue.enqueue(kind, {"n": n})))
            for job in await queue.lease([kind], limit=failed + running):
                if int(str(job.payload["n"])) >= failed:
                    continue  # the last ``running`` jobs stay leased
                await queue.fail(job, f"boom {job.payload['n']}")
            return ids
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def reader(registry: DockyardServer) -> Iterator[httpx.Client]:
    name, password = unique("jobreader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=(name, password)) as client:
        yield client


def test_jobs_are_listed_filtered_and_paged(
    api: ApiClient, registry: DockyardServer, kind: str
) -> None:
    failed = queue_jobs(registry, kind, failed=2, running=1)[:2]
    page = api.ok(api.get("/jobs", params={"kind": kind}))
    assert page["total"] == 3
    for item in page["items"]:
        assert set(item) == ITEM_KEYS, item
    assert sorted(j["state"] for j in page["items"]) == ["failed", "failed", "running"]
    only_failed = api.ok(api.get("/jobs", params={"kind": kind, "state": "failed"}))
    assert sorted(j["id"] for j in only_failed["items"]) == sorted(failed)
    assert {j["lastError"] for j in only_failed["items"]} == {"boom 0", "boom 1"}
    first = api.ok(api.get("/jobs", params={"kind": kind, "pageSize": 1}))
    second = api.ok(api.get("/jobs", params={"kind": kind, "pageSize": 1, "page": 2}))
    assert first["total"] == second["total"] == 3
    assert first["items"][0]["id"] != second["items"][0]["id"]
    error(api.get("/jobs", params={"state": "finished"}), 422, "VALIDATION_FAILED")


def test_retry_requeues_a_failed_job_and_refuses_a_running_one(
    api: ApiClient, registry: DockyardServer, kind: str
) -> None:
    failed, running = queue_jobs(registry, kind, failed=1, running=1)
    again = api.ok(api.post(f"/jobs/{failed}/retry"))
    assert (again["id"], again["state"], again["attempts"]) == (failed, "waiting", 0)
    assert again["lastError"] == "boom 0"  # kept: why it failed before
    error(api.post(f"/jobs/{running}/retry"), 409, "CONFLICT")
    error(api.post(f"/jobs/{uuid.uuid4()}/retry"), 404, "NOT_FOUND")


def test_readers_neither_list_nor_retry_jobs(
    reader: httpx.Client, registry: DockyardServer, kind: str
) -> None:
    """Jobs are deployment-wide and their errors quote what failed: the read-only policy's
    ``cr:List*`` does not reach them (``cr:InspectJob``)."""
    (failed,) = queue_jobs(registry, kind, failed=1, running=0)
    error(reader.get("/jobs", params={"kind": kind}), 403, "DENIED")
    error(reader.post(f"/jobs/{failed}/retry"), 403, "DENIED")
