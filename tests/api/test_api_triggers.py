"""Triggers through the API: create/read/update/delete, the secret shown once, URL masking
for readers, refusals that save nothing, the log with its filters, ping, redelivery and
audit rows (never with the secret)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.api.conftest import API, ApiClient, Pusher, add_user, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

TRIGGER_KEYS = {
    "name",
    "url",
    "mode",
    "expression",
    "tags",
    "cloudevents",
    "hasSecret",
    "createdAt",
    "updatedAt",
}
RECORD_KEYS = {
    "id",
    "trigger",
    "tag",
    "digest",
    "status",
    "reason",
    "responseStatus",
    "attempts",
    "latencyMs",
    "ping",
    "redeliveryOf",
    "createdAt",
    "updatedAt",
}
#: A receiver nobody listens on: what it answers does not matter to these tests.
HOOK = "http://deploy.invalid:8080/hooks/redeploy?token=s3cret"


@pytest.fixture
def repo(api: ApiClient) -> str:
    ns = unique("trg")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    return f"{ns}/app"


@pytest.fixture
def reader(registry: DockyardServer) -> Iterator[httpx.Client]:
    """A user of the built-in read-only policy (every cr:List*, cr:Get*)."""
    name, password = unique("trgreader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=(name, password)) as client:
        yield client


def triggers_path(api: ApiClient, repo: str) -> str:
    return api.repo_path("default", repo) + "/triggers"


def create(api: ApiClient, repo: str, **body: Any) -> httpx.Response:
    return api.post(triggers_path(api, repo), json={"url": HOOK, "mode": "every", **body})


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll until ``probe`` returns something truthy (background work is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_create_read_update_delete(api: ApiClient, repo: str) -> None:
    created = api.ok(create(api, repo, name="deploy", secret=True), 201)
    assert set(created) == TRIGGER_KEYS | {"secret"}
    assert created["url"] == HOOK and created["hasSecret"] is True
    assert len(created["secret"]) >= 32
    path = triggers_path(api, repo)
    got = api.ok(api.get(f"{path}/deploy"))
    assert set(got) == TRIGGER_KEYS  # the secret is shown only once
    assert got["url"] == HOOK  # the administrator may change it: unmasked
    listed = api.ok(api.get(path))
    assert listed["total"] == 1 and listed["items"][0]["name"] == "deploy"

    changed = api.ok(
        api.patch(f"{path}/deploy", json={"mode": "tags", "tags": ["v1", "v2"], "secret": False})
    )
    assert (changed["mode"], changed["tags"], changed["hasSecret"]) == ("tags", ["v1", "v2"], False)
    assert changed["secret"] is None
    again = api.ok(api.patch(f"{path}/deploy", json={"secret": True, "cloudevents": True}))
    assert again["secret"] and again["hasSecret"] and again["cloudevents"]
    assert again["tags"] == ["v1", "v2"]  # left out: kept

    error(create(api, repo, name="deploy"), 409, "ALREADY_EXISTS")
    assert api.delete(f"{path}/deploy").status_code == 204
    error(api.get(f"{path}/deploy"), 404, "NOT_FOUND")
    error(api.delete(f"{path}/deploy"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "bad name"}, "1-64 letters, digits"),
        ({"url": "http://h.example:8/x"}, "an http URL uses port 80"),
        ({"url": "https://h.example:8443/x"}, "an https URL uses port 443 only"),
        ({"url": "ftp://h.example/x"}, "only http and https"),
        ({"mode": "expression", "expression": "(unclosed"}, "invalid regular expression"),
        ({"mode": "tags", "tags": [f"v{i}" for i in range(11)]}, "1 to 10 tags (got 11)"),
        ({"mode": "tags", "tags": ["-bad"]}, "invalid tag"),
        ({"mode": "every", "tags": ["v1"]}, "tags are given only with mode tags"),
    ],
)
def test_bad_input_names_the_rule_and_saves_nothing(
    api: ApiClient, repo: str, body: dict[str, Any], message: str
) -> None:
    resp = create(api, repo, **{"name": "hook", **body})
    assert message in error(resp, 400, "INVALID_INPUT")["message"]
    assert api.ok(api.get(triggers_path(api, repo)))["total"] == 0
    audited = api.ok(api.get("/audit-events", params={"action": "cr:CreateRepoTrigger"}))
    assert not [e for e in audited["items"] if e["detail"].get("repository") == repo]


def test_a_bad_update_changes_nothing(api: ApiClient, repo: str) -> None:
    api.ok(create(api, repo, name="hook", mode="expression", expression="release-.*"), 201)
    path = f"{triggers_path(api, repo)}/hook"
    before = api.ok(api.get(path))
    for body in (
        {"url": "https://h.example:444/"},
        {"mode": "tags"},
        {"expression": "("},
        {"mode": "every", "expression": "x"},
    ):
        error(api.patch(path, json=body), 400, "INVALID_INPUT")
    assert api.ok(api.get(path)) == before


def test_unknown_repository_and_schema_errors(api: ApiClient, repo: str) -> None:
    ns = repo.split("/")[0]
    missing = api.repo_path("default", f"{ns}/nothere") + "/triggers"
    error(api.post(missing, json={"name": "h", "url": HOOK, "mode": "every"}), 404, "NOT_FOUND")
    error(api.get(missing), 404, "NOT_FOUND")
    error(api.get(missing.replace("/triggers", "/trigger-records")), 404, "NOT_FOUND")
    path = triggers_path(api, repo)
    error(
        api.post(path, json={"name": "h", "url": HOOK, "mode": "often"}), 422, "VALIDATION_FAILED"
    )
    error(
        api.post(path, json={"name": "h", "url": HOOK, "mode": "every", "extra": 1}),
        422,
        "VALIDATION_FAILED",
    )
    records = api.repo_path("default", repo) + "/trigger-records"
    error(api.get(records, params={"status": "Done"}), 422, "VALIDATION_FAILED")
    error(api.post(f"{records}/{uuid.uuid4()}/redeliver"), 404, "NOT_FOUND")
    error(api.post(f"{path}/nothere/ping"), 404, "NOT_FOUND")


def test_readers_see_urls_masked_and_cannot_change(
    api: ApiClient, repo: str, reader: httpx.Client
) -> None:
    api.ok(create(api, repo, name="hook", secret=True), 201)
    path = triggers_path(api, repo)
    listed = reader.get(path)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["url"] == "http://deploy.invalid:8080/hooks/redeploy?***"
    assert "secret" not in item and item["hasSecret"] is True
    assert reader.get(f"{path}/hook").json()["url"].endswith("?***")
    error(reader.patch(f"{path}/hook", json={"url": HOOK}), 403, "DENIED")
    error(reader.post(f"{path}/hook/ping"), 403, "DENIED")
    error(reader.delete(f"{path}/hook"), 403, "DENIED")
    error(reader.post(path, json={"name": "x", "url": HOOK, "mode": "every"}), 403, "DENIED")
    records = reader.get(api.repo_path("default", repo) + "/trigger-records")
    assert records.status_code == 200, records.text


def test_changes_are_audited_without_the_secret(api: ApiClient, repo: str) -> None:
    created = api.ok(create(api, repo, name="hook", secret=True), 201)
    path = f"{triggers_path(api, repo)}/hook"
    api.ok(api.patch(path, json={"secret": True}))
    assert api.delete(path).status_code == 204
    rows = []
    for action in ("cr:CreateRepoTrigger", "cr:UpdateWebHook", "cr:DeleteRepoTrigger"):
        page = api.ok(api.get("/audit-events", params={"action": action, "pageSize": 100}))
        mine = [e for e in page["items"] if e["detail"].get("repository") == repo]
        assert len(mine) == 1, (action, mine)
        rows.extend(mine)
    for row in rows:
        assert row["outcome"] == "success" and row["detail"]["trigger"] == "hook"
        assert row["resource"].endswith(f":repository/default/{repo}")
        assert created["secret"] not in str(row)
        assert "s3cret" not in str(row)  # the URL's query is masked too


def test_pushes_are_logged_and_filtered(api: ApiClient, pusher: Pusher, repo: str) -> None:
    api.ok(create(api, repo, name="releases", mode="expression", expression="release-v.*"), 201)
    pusher.image(repo, "v2", layers=1)
    pusher.image(repo, "v3", layers=1)
    records = api.repo_path("default", repo) + "/trigger-records"
    items = wait_for(
        lambda: (page := api.ok(api.get(records)))["total"] >= 2 and page["items"],
        "two log records",
    )
    assert [set(r) for r in items] == [RECORD_KEYS, RECORD_KEYS]
    assert [(r["tag"], r["status"], r["reason"]) for r in items] == [
        ("v3", "Untriggered", 'tag "v3" does not match "release-v.*"'),
        ("v2", "Untriggered", 'tag "v2" does not match "release-v.*"'),
    ]
    assert all(r["trigger"] == "releases" and r["attempts"] == 0 for r in items)
    only = api.ok(api.get(records, params={"status": "Untriggered", "trigger": "releases"}))
    assert only["total"] == 2
    assert api.ok(api.get(records, params={"status": "Triggered"}))["total"] == 0
    assert api.ok(api.get(records, params={"trigger": "other"}))["total"] == 0
    one = api.ok(api.get(records, params={"pageSize": 1, "page": 2}))
    assert one["total"] == 2 and one["items"][0]["tag"] == "v2"

    # A manual redelivery of any record, and a ping: new records, queued (202).
    redelivered = api.ok(api.post(f"{records}/{items[0]['id']}/redeliver"), 202)
    assert redelivered["redeliveryOf"] == items[0]["id"] and redelivered["id"] != items[0]["id"]
    assert redelivered["status"] == "Pending" and redelivered["tag"] == "v3"
    ping = api.ok(api.post(f"{triggers_path(api, repo)}/releases/ping"), 202)
    assert ping["ping"] is True and ping["trigger"] == "releases" and ping["tag"] is None
    assert api.ok(api.get(records))["total"] == 4
