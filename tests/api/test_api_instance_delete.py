"""Deleting an instance: refused while it holds namespaces unless forced, never `default`,
everything on it gone in one transaction, its hosts then served by the default instance."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiClient, Pusher, add_user, error, sign_in, unique
from tests.api.test_api_instances import endpoint, settle
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e


def deletions(api: ApiClient, instance_id: str) -> list[dict[str, Any]]:
    found = api.ok(api.get("/audit-events", params={"action": "cr:DeleteInstance"}))["items"]
    return [e for e in found if e["detail"].get("instance") == instance_id]


def test_refused_with_namespaces_then_forced_and_its_host_routes_to_default(
    registry: DockyardServer, api: ApiClient
) -> None:
    domain = f"{unique('del')}.example"
    instance = api.create_instance("Advanced", endpoints=[endpoint(domain, "vpc", "127.0.0.0/8")])
    iid = instance["id"]
    pusher = Pusher(registry, domain)
    try:
        pushed = pusher.image("doomed/app", "v1")
        path = f"/instances/{iid}"

        body = error(api.delete(path), 409, "INSTANCE_NOT_EMPTY")
        assert "1 namespaces" in body["message"] and "force" in body["message"]
        api.ok(api.get(api.repo_path(iid, "doomed/app")))
        assert pusher.http.get(f"/v2/doomed/app/manifests/{pushed.digest}").status_code == 200

        assert api.delete(path, params={"force": "true"}).status_code == 204
        error(api.get(path), 404, "NOT_FOUND")
        error(api.get(f"{path}/namespaces"), 404, "NOT_FOUND")
        assert iid not in {i["id"] for i in api.ok(api.get("/instances"))["items"]}
        (audited,) = deletions(api, iid)
        assert audited["outcome"] == "success" and audited["actor"] == "admin"
        assert audited["resource"].endswith(f":instance/{iid}")
        assert audited["detail"]["namespaces"] == 1 and audited["detail"]["repositories"] == 1

        # Its host now reaches the default instance, which has no doomed/app.
        settle()
        gone = pusher.http.get(f"/v2/doomed/app/manifests/{pushed.digest}")
        assert gone.status_code == 404, gone.text
        landed = unique("landed")
        pusher.image(f"{landed}/app", "v1")
        default_repos = api.ok(api.get("/instances/default/repositories", params={"name": landed}))
        assert [r["fullName"] for r in default_repos["items"]] == [f"{landed}/app"]
    finally:
        pusher.close()

    # The endpoint went with the instance: its domain is free for a new one.
    again = api.create_instance("Standard", endpoints=[endpoint(domain, "vpc")])
    assert again["endpoints"][0]["domain"] == domain


def test_an_empty_instance_needs_no_force(api: ApiClient) -> None:
    iid = api.create_instance("Standard")["id"]
    api.create_namespace(iid, "brief")
    assert api.delete(f"/instances/{iid}/namespaces/brief").status_code == 204
    assert api.delete(f"/instances/{iid}").status_code == 204
    error(api.get(f"/instances/{iid}"), 404, "NOT_FOUND")
    error(api.delete(f"/instances/{iid}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("force", ["false", "true"])
def test_the_default_instance_is_never_deleted(api: ApiClient, force: str) -> None:
    body = error(api.delete("/instances/default", params={"force": force}), 409, "CONFLICT")
    assert "default" in body["message"]
    api.ok(api.get("/instances/default"))


def test_an_unknown_instance_is_not_found(api: ApiClient) -> None:
    body = error(api.delete("/instances/cri-doesnotexist"), 404, "NOT_FOUND")
    assert "cri-doesnotexist" in body["message"]


def test_policy_decides(registry: DockyardServer, api: ApiClient) -> None:
    name, password = unique("ro"), "Read0nly-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    reader = ApiClient(registry, token=sign_in(registry, name, password))
    try:
        iid = api.create_instance("Advanced")["id"]
        body = error(reader.delete(f"/instances/{iid}", params={"force": "true"}), 403, "DENIED")
        assert "cr:DeleteInstance" in body["message"] and f"instance/{iid}" in body["message"]
        api.ok(api.get(f"/instances/{iid}"))
        params = {"action": "cr:DeleteInstance", "actor": name, "outcome": "denied"}
        (denied,) = api.ok(api.get("/audit-events", params=params))["items"]
        assert denied["resource"].endswith(f":instance/{iid}")
    finally:
        reader.close()


def test_the_operation_is_documented(registry: DockyardServer) -> None:
    doc = httpx.get(f"{registry.url}/api/v1/openapi.json", timeout=60).json()
    operation = doc["paths"]["/api/v1/instances/{instance_id}"]["delete"]
    assert operation["x-dockyard-action"] == "cr:DeleteInstance"
    assert "force" in {p["name"] for p in operation["parameters"]}
    assert "409" in operation["responses"]
