"""The audit log through the API: pushes, deletes and denials; filters, paging, errors."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.api.conftest import (
    OCI_MANIFEST,
    ApiClient,
    Pusher,
    add_user,
    error,
    unique,
)
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

EVENTS = "/audit-events"
ITEM_KEYS = {
    "id",
    "at",
    "actor",
    "actorId",
    "sourceIp",
    "action",
    "resource",
    "outcome",
    "detail",
}


def events(api: ApiClient, **params: Any) -> list[dict[str, Any]]:
    page = api.ok(api.get(EVENTS, params={"pageSize": 100, **params}))
    for item in page["items"]:
        assert set(item) == ITEM_KEYS, item
    return list(page["items"])


def about(items: list[dict[str, Any]], repository: str) -> list[dict[str, Any]]:
    return [e for e in items if e["detail"].get("repository") == repository]


@pytest.fixture
def api(registry: DockyardServer) -> Iterator[ApiClient]:
    """The administrator with Basic credentials (the audit log does not depend on sign-in)."""
    client = ApiClient(registry, auth=registry.admin)
    yield client
    client.close()


@pytest.fixture
def repo(api: ApiClient) -> str:
    ns = unique("aud")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    return f"{ns}/app"


@pytest.fixture
def reader(registry: DockyardServer) -> tuple[str, str]:
    """A user allowed to read (pull, list, get) but not to push, delete or read the log."""
    name, password = unique("reader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    return name, password


def test_a_push_is_audited_with_actor_address_arn_tag_and_digest(
    api: ApiClient, pusher: Pusher, repo: str
) -> None:
    image = pusher.image(repo, "v1", layers=1)
    pushes = about(events(api, action="cr:PushRepository", actor="admin"), repo)
    assert len(pushes) == 1, pushes
    push = pushes[0]
    assert push["outcome"] == "success"
    assert push["actor"] == "admin" and push["actorId"]
    assert push["sourceIp"] == "127.0.0.1"
    assert push["resource"].startswith("acs:cr:")
    assert push["resource"].endswith(f":repository/default/{repo}")
    assert push["detail"]["tag"] == "v1"
    assert push["detail"]["digest"] == image.digest
    assert push["detail"]["instanceId"] == "default"
    # Pushing by digest: no tag in the detail.
    assert pusher.manifest(repo, image.digest, image.manifest, OCI_MANIFEST).status_code == 201
    newest = about(events(api, action="cr:PushRepository"), repo)[0]
    assert "tag" not in newest["detail"] and newest["detail"]["digest"] == image.digest


def test_pulls_and_reads_are_not_audited(api: ApiClient, pusher: Pusher, repo: str) -> None:
    image = pusher.image(repo, "v1", layers=1)
    before = about(events(api), repo)
    assert pusher.http.get(f"/v2/{repo}/manifests/v1").status_code == 200
    assert pusher.http.head(f"/v2/{repo}/manifests/{image.digest}").status_code == 200
    assert pusher.http.get(f"/v2/{repo}/tags/list").status_code == 200
    api.ok(api.get(api.repo_path("default", repo) + "/tags"))
    assert about(events(api), repo) == before


def test_tag_manifest_and_blob_deletes_are_audited(
    api: ApiClient, pusher: Pusher, repo: str
) -> None:
    image = pusher.image(repo, "v1", layers=1)
    pusher.manifest(repo, "v2", image.manifest, OCI_MANIFEST)
    # A tag, through the API.
    resp = api.delete(api.repo_path("default", repo) + "/tags/v1")
    assert resp.status_code == 204, resp.text
    # A manifest by digest, through the registry (its remaining tag goes with it).
    assert pusher.http.delete(f"/v2/{repo}/manifests/{image.digest}").status_code == 202
    # A blob, through the registry.
    layer = "sha256:" + hashlib.sha256(image.layers[0]).hexdigest()
    assert pusher.http.delete(f"/v2/{repo}/blobs/{layer}").status_code == 202
    deletes = about(events(api, action="cr:DeleteRepositoryTag"), repo)
    assert [(e["actor"], e["outcome"]) for e in deletes] == [("admin", "success")] * 3
    blob, manifest, tag = deletes  # newest first
    assert tag["detail"]["tag"] == "v1"
    assert manifest["detail"]["digest"] == image.digest
    assert manifest["detail"]["tags"] == ["v2"]
    assert blob["detail"]["blob"] == layer
    for event in deletes:
        assert event["resource"].endswith(f":repository/default/{repo}")


def test_repository_and_namespace_deletes_are_audited(
    api: ApiClient, pusher: Pusher, repo: str
) -> None:
    namespace = repo.split("/")[0]
    pusher.image(repo, "v1", layers=1)
    api.create_repository("default", namespace, "web")
    resp = api.delete(api.repo_path("default", repo))
    assert resp.status_code == 204, resp.text
    resp = api.delete(f"/instances/default/namespaces/{namespace}", params={"force": "true"})
    assert resp.status_code == 204, resp.text
    (repository,) = about(events(api, action="cr:DeleteRepository"), repo)
    assert (repository["actor"], repository["outcome"]) == ("admin", "success")
    assert repository["sourceIp"] == "127.0.0.1"
    assert repository["resource"].endswith(f":repository/default/{repo}")
    removed = [
        e
        for e in events(api, action="cr:DeleteNamespace")
        if e["detail"].get("namespace") == namespace
    ]
    assert len(removed) == 1, removed
    assert removed[0]["detail"]["repositories"] == 1  # web; app was deleted before
    assert removed[0]["resource"].endswith(f":repository/default/{namespace}")


def test_a_refused_delete_writes_no_success_row(api: ApiClient, repo: str) -> None:
    resp = api.delete(api.repo_path("default", repo) + "/tags/missing")
    error(resp, 404, "NOT_FOUND")
    assert about(events(api, action="cr:DeleteRepositoryTag"), repo) == []


def test_registry_and_api_denials_are_audited(
    registry: DockyardServer,
    api: ApiClient,
    pusher: Pusher,
    repo: str,
    reader: tuple[str, str],
) -> None:
    name, password = reader
    pusher.image(repo, "v1", layers=1)
    with httpx.Client(base_url=registry.url, auth=(name, password), timeout=30) as http:
        # Pull is allowed and not audited; push and delete are denied (403 DENIED).
        assert http.get(f"/v2/{repo}/manifests/v1").status_code == 200
        resp = http.put(
            f"/v2/{repo}/manifests/v9", content=b"{}", headers={"Content-Type": OCI_MANIFEST}
        )
        assert resp.status_code == 403, resp.text
        assert resp.json()["errors"][0]["code"] == "DENIED"
        assert http.delete(f"/v2/{repo}/manifests/v1").status_code == 403
    with httpx.Client(base_url=registry.url + "/api/v1", auth=(name, password)) as http:
        error(http.post("/instances/default/namespaces", json={"name": unique("x")}), 403, "DENIED")
        # The log itself needs ram:ListAuditEvents.
        error(http.get(EVENTS), 403, "DENIED")
    denied = events(api, actor=name, outcome="denied")
    actions = sorted(e["action"] for e in denied)
    assert actions == [
        "cr:CreateNamespace",
        "cr:DeleteRepositoryTag",
        "cr:PushRepository",
        "ram:ListAuditEvents",
    ], denied
    by_action = {e["action"]: e for e in denied}
    assert by_action["cr:PushRepository"]["resource"].endswith(f":repository/default/{repo}")
    assert by_action["ram:ListAuditEvents"]["resource"] == "*"
    assert by_action["cr:CreateNamespace"]["actorId"]
    assert by_action["cr:PushRepository"]["actorId"] == by_action["cr:CreateNamespace"]["actorId"]
    for event in denied:
        assert event["sourceIp"] == "127.0.0.1"
        assert password not in str(event)
    # Nothing the reader did succeeded in writing.
    assert events(api, actor=name, outcome="success") == []


def test_a_token_without_the_scope_is_challenged_not_audited(
    registry: DockyardServer, api: ApiClient, repo: str, reader: tuple[str, str]
) -> None:
    name, password = reader
    token = httpx.get(
        registry.realm,
        params={"service": "dockyard", "scope": f"repository:{repo}:pull"},
        auth=(name, password),
    ).json()["token"]
    resp = httpx.put(
        f"{registry.url}/v2/{repo}/manifests/v9",
        content=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": OCI_MANIFEST},
    )
    assert resp.status_code == 401
    assert events(api, actor=name) == []


def test_filters_newest_first_and_paging(api: ApiClient, pusher: Pusher, repo: str) -> None:
    start = datetime.now(UTC) - timedelta(seconds=2)
    for tag in ("a", "b", "c"):
        pusher.image(repo, tag, layers=1)
    mine = about(events(api, action="cr:PushRepository", since=start.isoformat()), repo)
    assert [e["detail"]["tag"] for e in mine] == ["c", "b", "a"]
    stamps = [e["at"] for e in mine]
    assert stamps == sorted(stamps, reverse=True)
    # since is inclusive, until exclusive; both accept a Z suffix.
    oldest = datetime.fromisoformat(mine[-1]["at"])
    z = oldest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    window = about(events(api, action="cr:PushRepository", since=z, until=z), repo)
    assert window == []
    later = (oldest + timedelta(microseconds=1)).isoformat()
    assert [e["detail"]["tag"] for e in about(events(api, until=later), repo)][-1:] == ["a"]
    assert about(events(api, until=start.isoformat()), repo) == []
    # Paging: total counts every match, pages are disjoint.
    first = api.ok(api.get(EVENTS, params={"action": "cr:PushRepository", "pageSize": 1}))
    second = api.ok(
        api.get(EVENTS, params={"action": "cr:PushRepository", "pageSize": 1, "page": 2})
    )
    assert first["total"] >= 3 and first["pageSize"] == 1 and len(first["items"]) == 1
    assert first["items"][0]["id"] != second["items"][0]["id"]
    assert first["items"][0]["at"] >= second["items"][0]["at"]
    assert events(api, outcome="failure", action="cr:PushRepository") == []
    assert events(api, actor="nobody-" + unique()) == []


@pytest.mark.parametrize(
    "params",
    [
        {"outcome": "maybe"},
        {"since": "yesterday"},
        {"until": "2026-13-01"},
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"actor": "x" * 65},
    ],
)
def test_invalid_filters_are_400(api: ApiClient, params: dict[str, str]) -> None:
    body = error(api.get(EVENTS, params=params), 400, "INVALID_INPUT")
    assert next(iter(params)) in body["message"]


def test_paging_limits_are_the_common_ones(api: ApiClient) -> None:
    assert api.get(EVENTS, params={"pageSize": 101}).status_code == 422
    assert api.get(EVENTS, params={"page": 0}).status_code == 422


def test_the_route_declares_its_action(api: ApiClient) -> None:
    doc = api.ok(api.get("/openapi.json"))
    assert doc["paths"]["/api/v1/audit-events"]["get"]["x-dockyard-action"] == (
        "ram:ListAuditEvents"
    )
