"""The usage and quota operations of the management API: answers, errors, who may call
them, and the registry's refusal beyond a quota (details in tests/e2e/test_usage_clients.py
and tests/integration/test_usage.py)."""

from __future__ import annotations

import secrets

import httpx
import pytest
from tests.api.conftest import ApiClient, Pusher, add_user, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e


def test_usage_of_a_namespace_its_repositories_and_the_instance(
    api: ApiClient, pusher: Pusher
) -> None:
    ns = unique("use")
    first = pusher.image(f"{ns}/a", "v1", layers=2)
    pusher.image(f"{ns}/b", "v1", layers=1)
    detail = api.ok(api.get(f"/instances/default/namespaces/{ns}/usage"))
    by_name = {r["name"]: r for r in detail["repositories"]}
    assert detail["repositoryCount"] == 2
    a = by_name["a"]
    expected_a = len(first.manifest) + len(first.config) + sum(len(b) for b in first.layers)
    assert (a["logical"], a["deduplicated"], a["manifests"]) == (expected_a, expected_a, 1)
    figures = detail["namespace"]
    assert figures == {
        "name": ns,
        "logical": a["logical"] + by_name["b"]["logical"],
        "deduplicated": a["deduplicated"] + by_name["b"]["deduplicated"],
        "quota": None,
    }
    repo = api.ok(api.get(f"/instances/default/namespaces/{ns}/repositories/a/usage"))
    assert repo == a
    instance = api.ok(api.get("/instances/default/usage", params={"pageSize": 100}))
    assert instance["instanceId"] == "default"
    assert instance["deduplicated"] >= figures["deduplicated"]
    explained = api.ok(api.get(f"/instances/default/namespaces/{ns}/usage/explain"))
    assert explained["distinctContent"] == 3 + 2 + 2  # manifests, configs, layers
    assert explained["saved"] == 0 and explained["largestShared"] == []


def test_quota_errors_and_the_registry_refusal(api: ApiClient, pusher: Pusher) -> None:
    ns = unique("quo")
    api.create_namespace("default", ns)
    path = f"/instances/default/namespaces/{ns}/quota"
    error(api.request("PUT", path, json={"quota": -1}), 422, "VALIDATION_FAILED")
    error(api.request("PUT", path, json={"bytes": 1}), 422, "VALIDATION_FAILED")
    error(api.request("PUT", f"{path}x", json={"quota": 1}), 404, "NOT_FOUND")
    error(api.get(f"/instances/default/namespaces/{ns}/repositories/nope/usage"), 404, "NOT_FOUND")
    set_ = api.ok(api.request("PUT", path, json={"quota": 100}))
    assert set_ == {"name": ns, "logical": 0, "deduplicated": 0, "quota": 100}
    pushed = pusher.image(f"{ns}/app", "v1", layers=2, expect=403)
    # Refused at an upload: the 64- and 65-byte layers fit (blobs no manifest names yet do
    # not count), the config of about 200 bytes does not.
    assert pushed.digest == ""
    resp = pusher.blob(f"{ns}/app", b"x" * 101)
    body = resp.json()["errors"][0]
    assert (resp.status_code, body["code"]) == (403, "DENIED")
    assert body["message"].startswith(f"storage quota exceeded: namespace {ns} has a quota of 100")
    assert body["detail"] == {"namespace": ns, "quota": 100, "usage": 0, "adding": 101}
    assert api.ok(api.request("PUT", path, json={"quota": None}))["quota"] is None


def test_readers_see_usage_but_cannot_set_quotas(api: ApiClient, registry: DockyardServer) -> None:
    ns = unique("rdq")
    api.create_namespace("default", ns)
    name, password = unique("reader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=(name, password)) as reader:
        assert reader.get(f"/instances/default/namespaces/{ns}/usage").status_code == 200
        assert reader.get("/instances/default/usage").status_code == 200
        refused = reader.put(f"/instances/default/namespaces/{ns}/quota", json={"quota": 1})
        error(refused, 403, "DENIED")
