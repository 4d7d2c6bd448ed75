"""Instances: create, list, get, update; endpoints and their allowlists; downgrades."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.api.conftest import ApiClient, Pusher, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

ROUTE_CACHE_SECONDS = 5.0  # TenancyService caches a host's route this long per worker


def endpoint(domain: str, network: str = "public", *cidrs: str, enabled: bool = True) -> dict:
    return {
        "networkType": network,
        "domain": domain,
        "enabled": enabled,
        "allowlist": [{"cidr": c, "description": "test"} for c in cidrs],
    }


def test_create_list_get_update(api: ApiClient) -> None:
    domain = f"{unique('i')}.example.com"
    created = api.create_instance(
        "Standard",
        name="Team registry",
        region="eu-west-1",
        endpoints=[endpoint(domain, "vpc", "10.1.0.0/16"), endpoint("PUB-" + domain, "public")],
    )
    assert created["id"].startswith("cri-") and len(created["id"]) > 8
    assert (created["name"], created["region"], created["edition"]) == (
        "Team registry",
        "eu-west-1",
        "Standard",
    )
    assert [e["networkType"] for e in created["endpoints"]] == ["public", "vpc"]
    assert created["endpoints"][0]["domain"] == "pub-" + domain  # lowercased
    assert created["endpoints"][1]["allowlist"] == [{"cidr": "10.1.0.0/16", "description": "test"}]
    got = api.get(f"/instances/{created['id']}")
    assert api.ok(got) == created
    etag = got.headers["etag"]
    listed = api.ok(api.get("/instances", params={"pageSize": 100}))
    assert created["id"] in {i["id"] for i in listed["items"]}

    updated = api.patch(
        f"/instances/{created['id']}",
        json={"name": "Renamed", "endpoints": [endpoint(domain, "classic", "192.168.1.7")]},
        headers={"If-Match": etag},
    )
    body = api.ok(updated)
    assert body["name"] == "Renamed" and body["region"] == "eu-west-1"
    assert body["endpoints"] == [
        {
            "networkType": "classic",
            "domain": domain,
            "enabled": True,
            "allowlist": [{"cidr": "192.168.1.7/32", "description": "test"}],
        }
    ]
    assert updated.headers["etag"] != etag
    # The old ETag is stale now.
    stale = api.patch(f"/instances/{created['id']}", json={"name": "x"}, headers={"If-Match": etag})
    error(stale, 412, "PRECONDITION_FAILED")
    assert api.ok(api.get(f"/instances/{created['id']}"))["name"] == "Renamed"
    fresh = api.patch(
        f"/instances/{created['id']}",
        json={"region": "eu-west-2"},
        headers={"If-Match": updated.headers["etag"]},
    )
    assert api.ok(fresh)["region"] == "eu-west-2"
    assert api.ok(api.patch(f"/instances/{created['id']}", json={}, headers={"If-Match": "*"}))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "region": "r", "edition": "Premium"}, 422, "VALIDATION_FAILED"),
        ({"name": "", "region": "r"}, 422, "VALIDATION_FAILED"),
        ({"name": "x", "region": "Not A Region"}, 422, "VALIDATION_FAILED"),
        ({"name": "x", "region": "r", "extra": 1}, 422, "VALIDATION_FAILED"),
        (
            {
                "name": "x",
                "region": "r",
                "endpoints": [endpoint("a.example", "public", "300.1.1.1/8")],
            },
            400,
            "INVALID_INPUT",
        ),
        (
            {
                "name": "x",
                "region": "r",
                "endpoints": [endpoint("a.example"), endpoint("b.example")],
            },
            400,
            "INVALID_INPUT",
        ),
        (
            {"name": "x", "region": "r", "endpoints": [endpoint("bad..example")]},
            400,
            "INVALID_INPUT",
        ),
        (
            {"name": "x", "region": "r", "endpoints": [endpoint("a.example", "satellite")]},
            422,
            "VALIDATION_FAILED",
        ),
    ],
)
def test_invalid_instances_are_refused(api: ApiClient, body: dict, status: int, code: str) -> None:
    error(api.post("/instances", json=body), status, code)


def test_a_domain_belongs_to_one_instance(api: ApiClient) -> None:
    domain = f"{unique('d')}.example"
    first = api.create_instance(endpoints=[endpoint(domain)])
    body = error(
        api.post("/instances", json={"name": "x", "region": "r", "endpoints": [endpoint(domain)]}),
        409,
        "ALREADY_EXISTS",
    )
    assert domain in body["message"]
    # The owner may keep it while changing its network type.
    api.ok(api.patch(f"/instances/{first['id']}", json={"endpoints": [endpoint(domain, "vpc")]}))


def settle() -> None:
    """Every worker caches a host's route for a few seconds; wait until all see a change."""
    time.sleep(ROUTE_CACHE_SECONDS + 0.3)


def test_host_routing_and_endpoint_allowlists(registry: DockyardServer, api: ApiClient) -> None:
    domain = f"{unique('acl')}.example"
    instance = api.create_instance("Advanced", endpoints=[endpoint(domain, "public", "10.0.0.0/8")])
    host = {"Host": f"{domain}:{registry.port}"}

    def v2() -> httpx.Response:
        return httpx.get(f"{registry.url}/v2/", headers=host, auth=registry.admin)

    # 127.0.0.1 is outside 10.0.0.0/8: refused with DENIED, even for the token endpoint.
    for _ in range(4):  # both workers
        refused = v2()
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "DENIED"
        assert "allowlist" in refused.json()["errors"][0]["message"]
    token = httpx.get(
        f"{registry.url}/auth/token",
        headers=host,
        params={"service": "dockyard"},
        auth=registry.admin,
    )
    assert token.status_code == 403
    # The default instance (no endpoints) stays open.
    assert httpx.get(f"{registry.url}/v2/", auth=registry.admin).status_code == 200

    # Allow loopback: pushes now reach the instance (and only it).
    api.ok(
        api.patch(
            f"/instances/{instance['id']}",
            json={"endpoints": [endpoint(domain, "public", "10.0.0.0/8", "127.0.0.0/8")]},
        )
    )
    settle()
    assert v2().status_code == 200
    pusher = Pusher(registry, domain)
    try:
        pusher.image("routed/app", "v1")
    finally:
        pusher.close()
    repos = api.ok(api.get(f"/instances/{instance['id']}/repositories"))
    assert [r["fullName"] for r in repos["items"]] == ["routed/app"]
    default_repos = api.ok(
        api.get("/instances/default/repositories", params={"name": "routed/app"})
    )
    assert default_repos["total"] == 0

    # An endpoint with no allowlist is open; a disabled endpoint refuses everyone.
    api.ok(api.patch(f"/instances/{instance['id']}", json={"endpoints": [endpoint(domain)]}))
    settle()
    assert v2().status_code == 200
    api.ok(
        api.patch(
            f"/instances/{instance['id']}", json={"endpoints": [endpoint(domain, enabled=False)]}
        )
    )
    settle()
    disabled = v2()
    assert disabled.status_code == 403
    assert "disabled" in disabled.json()["errors"][0]["message"]


def _limits(api: ApiClient, instance: str) -> dict[str, tuple[int | None, int]]:
    found = api.ok(api.get(f"/instances/{instance}/limits"))
    assert found["instanceId"] == instance
    return {row["name"]: (row["limit"], row["used"]) for row in found["limits"]}


def test_limits_are_the_editions_beside_what_they_count(api: ApiClient) -> None:
    instance = api.create_instance("Standard")["id"]
    assert _limits(api, instance) == {
        "namespaces": (15, 0),
        "repositories": (2000, 0),
        "repositories in one namespace": (1000, 0),
        "concurrently pulling clients": (100, 0),
    }
    api.create_namespace(instance, "one")
    api.create_namespace(instance, "two")
    for name in ("a", "b", "c"):
        api.create_repository(instance, "one", name)
    api.create_repository(instance, "two", "z")
    api.ok(api.patch(f"/instances/{instance}", json={"edition": "Advanced"}))
    assert _limits(api, instance) == {
        "namespaces": (1000, 2),
        "repositories": (100000, 4),
        "repositories in one namespace": (None, 3),
        "concurrently pulling clients": (500, 0),
    }
    error(api.get("/instances/cri-doesnotexist/limits"), 404, "NOT_FOUND")


def test_downgrade_is_refused_while_the_instance_holds_too_much(api: ApiClient) -> None:
    instance = api.create_instance("Advanced")["id"]
    for i in range(16):
        api.create_namespace(instance, f"ns{i:02d}")
    body = error(
        api.patch(f"/instances/{instance}", json={"edition": "Standard"}), 409, "DOWNGRADE_REFUSED"
    )
    assert "16 namespaces" in body["message"] and "allows 15" in body["message"]
    assert api.ok(api.get(f"/instances/{instance}"))["edition"] == "Advanced"

    api.ok(api.delete(f"/instances/{instance}/namespaces/ns15"), 204)
    api.create_repository(instance, "ns00", "locked", tagMutability="Immutable")
    body = error(
        api.patch(f"/instances/{instance}", json={"edition": "Standard"}), 409, "DOWNGRADE_REFUSED"
    )
    assert "immutable repositories" in body["message"]

    api.ok(
        api.patch(
            f"/instances/{instance}/namespaces/ns00/repositories/locked",
            json={"tagMutability": "Flexible"},
        )
    )
    assert (
        api.ok(api.patch(f"/instances/{instance}", json={"edition": "Standard"}))["edition"]
        == "Standard"
    )
    # Upgrading is always allowed.
    assert (
        api.ok(api.patch(f"/instances/{instance}", json={"edition": "Advanced"}))["edition"]
        == "Advanced"
    )
