"""Tag retention policies through the API: create/read/update/delete, a dry run that
equals the execution, the recorded runs, the registry's answer for deleted tags, the
edition gate, and the actions a reader lacks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import API, ApiClient, Pusher, add_user, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

POLICY_KEYS = {
    "name",
    "namespace",
    "repositories",
    "keepLatest",
    "keepTags",
    "schedule",
    "nextRunAt",
    "createdAt",
    "updatedAt",
}


def policies(instance: str) -> str:
    return f"/instances/{instance}/retention-policies"


@pytest.fixture
def reader(registry: DockyardServer) -> Iterator[httpx.Client]:
    """A user of the built-in read-only policy (every cr:List*, cr:Get*)."""
    name, password = unique("retreader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=(name, password)) as client:
        yield client


def test_policy_lifecycle_dry_run_execution_and_runs(api: ApiClient, pusher: Pusher) -> None:
    ns = unique("ret")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    pushed = [pusher.image(f"{ns}/app", f"v{i}").digest for i in range(1, 5)]
    name = unique("keep")
    body = {"name": name, "namespace": ns, "keepLatest": 2, "keepTags": "release-.*"}
    created = api.ok(api.post(policies("default"), json=body), 201)
    assert set(created) == POLICY_KEYS
    assert (created["schedule"], created["nextRunAt"]) == (None, None)
    error(api.post(policies("default"), json=body), 409, "ALREADY_EXISTS")
    zero = {**body, "name": "x", "keepLatest": 0}
    error(api.post(policies("default"), json=zero), 422, "VALIDATION_FAILED")
    bad_pattern = {**body, "name": "x", "keepTags": "("}
    error(api.post(policies("default"), json=bad_pattern), 400, "INVALID_INPUT")
    listed = api.ok(api.get(policies("default")))
    assert name in [p["name"] for p in listed["items"]]

    path = f"{policies('default')}/{name}"
    dry = api.ok(api.post(f"{path}/runs", json={"dryRun": True}))
    assert dry["dryRun"] and dry["id"] is None
    [repo] = dry["repositories"]
    assert (repo["repository"], repo["kept"], repo["deleted"]) == (
        f"{ns}/app",
        ["v3", "v4"],
        ["v1", "v2"],
    )
    assert api.ok(api.get(f"{path}/runs"))["total"] == 0

    run = api.ok(api.post(f"{path}/runs", json={}))
    assert run["repositories"][0]["deleted"] == repo["deleted"]
    assert run["repositories"][0]["deletedManifests"] == sorted(pushed[:2])
    assert run["status"] == "Succeeded" and run["trigger"] == "manual"
    runs = api.ok(api.get(f"{path}/runs"))
    assert [r["id"] for r in runs["items"]] == [run["id"]]
    assert runs["items"][0]["actor"] == run["actor"] and run["actor"]

    gone = pusher.http.get(f"/v2/{ns}/app/manifests/v1")
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert pusher.http.get(f"/v2/{ns}/app/manifests/v4").status_code == 200

    changed = api.ok(api.patch(path, json={"schedule": "04:30", "keepLatest": 3}))
    assert (changed["schedule"], changed["keepLatest"]) == ("04:30", 3)
    assert "T04:30:00" in changed["nextRunAt"]
    assert api.ok(api.patch(path, json={"schedule": ""}))["nextRunAt"] is None
    # The scope can change: to listed repositories, and back to the namespace.
    api.create_repository("default", ns, "web")
    listed_repos = api.ok(api.patch(path, json={"repositories": [f"{ns}/web", f"{ns}/app"]}))
    assert (listed_repos["namespace"], listed_repos["repositories"]) == (
        None,
        [f"{ns}/app", f"{ns}/web"],
    )
    both = {"namespace": ns, "repositories": [f"{ns}/web"]}
    error(api.patch(path, json=both), 400, "INVALID_INPUT")
    error(api.patch(path, json={"repositories": [f"{ns}/missing"]}), 404, "NOT_FOUND")
    assert api.ok(api.get(path))["repositories"] == [f"{ns}/app", f"{ns}/web"]
    back = api.ok(api.patch(path, json={"namespace": ns}))
    assert (back["namespace"], back["repositories"]) == (ns, [])
    api.ok(api.delete(path), 204)
    error(api.get(path), 404, "NOT_FOUND")


def test_standard_instances_are_refused_with_edition_required(
    api: ApiClient, standard: str
) -> None:
    api.create_namespace(standard, "std")
    body = {"name": "p", "namespace": "std", "keepLatest": 1}
    message = error(api.post(policies(standard), json=body), 403, "EDITION_REQUIRED")["message"]
    assert "tag retention" in message and standard in message
    error(api.get(policies(standard)), 403, "EDITION_REQUIRED")


def test_a_reader_may_read_policies_but_not_change_or_execute_them(
    api: ApiClient, reader: httpx.Client
) -> None:
    ns = unique("retr")
    api.create_namespace("default", ns)
    name = unique("p")
    api.ok(
        api.post(policies("default"), json={"name": name, "namespace": ns, "keepLatest": 1}), 201
    )
    path = f"{policies('default')}/{name}"
    assert reader.get(path).status_code == 200
    assert reader.get(f"{path}/runs").status_code == 200
    for resp in (
        reader.post(policies("default"), json={"name": "x", "namespace": ns, "keepLatest": 1}),
        reader.post(f"{path}/runs", json={"dryRun": True}),
        reader.patch(path, json={"keepLatest": 2}),
        reader.delete(path),
    ):
        error(resp, 403, "DENIED")
