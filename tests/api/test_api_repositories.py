"""Repositories: CRUD, name rules, search, the Advanced-only tag mutability, and the
repository limits (per namespace and per instance), for the API and for pushes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.api.conftest import ApiClient, Pusher, error, seed_repositories, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e


def test_create_get_list_update_delete(api: ApiClient, standard: str) -> None:
    api.create_namespace(standard, "web", defaultRepositoryType="public")
    created = api.create_repository(standard, "web", "frontend", summary="The site")
    assert created["id"].startswith("crr-")
    assert created == {
        **created,
        "instanceId": standard,
        "namespace": "web",
        "name": "frontend",
        "fullName": "web/frontend",
        "type": "public",  # the namespace's default
        "summary": "The site",
        "description": "",
        "tagMutability": "Flexible",
    }
    path = f"/instances/{standard}/namespaces/web/repositories/frontend"
    got = api.get(path)
    assert api.ok(got) == created
    updated = api.patch(
        path,
        json={"type": "private", "summary": "s" * 100, "description": "d" * 2000},
        headers={"If-Match": got.headers["etag"]},
    )
    body = api.ok(updated)
    assert (body["type"], len(body["summary"]), len(body["description"])) == ("private", 100, 2000)
    error(
        api.patch(path, json={"summary": "x"}, headers={"If-Match": got.headers["etag"]}),
        412,
        "PRECONDITION_FAILED",
    )
    error(api.patch(path, json={"summary": "s" * 101}), 422, "VALIDATION_FAILED")
    error(api.patch(path, json={"description": "d" * 2001}), 422, "VALIDATION_FAILED")
    error(api.patch(path, json={"type": "internal"}), 422, "VALIDATION_FAILED")
    assert api.ok(api.get(path))["summary"] == "s" * 100

    error(
        api.post(f"/instances/{standard}/namespaces/web/repositories", json={"name": "frontend"}),
        409,
        "ALREADY_EXISTS",
    )
    error(
        api.post(f"/instances/{standard}/namespaces/nope/repositories", json={"name": "x"}),
        404,
        "NOT_FOUND",
    )
    assert api.delete(path).status_code == 204
    error(api.get(path), 404, "NOT_FOUND")
    error(api.delete(path), 404, "NOT_FOUND")


@pytest.mark.parametrize("name", ["-a", "_a", "a-", "A", "a" * 65, "a.b", ""])
def test_repository_name_rules(api: ApiClient, standard: str, name: str) -> None:
    api.create_namespace(standard, "rules")
    resp = api.post(f"/instances/{standard}/namespaces/rules/repositories", json={"name": name})
    error(resp, 422, "VALIDATION_FAILED")


def test_lists_per_namespace_and_instance_with_search(api: ApiClient, standard: str) -> None:
    for ns in ("alpha", "beta"):
        api.create_namespace(standard, ns)
        for repo in ("api", "web-app", "worker"):
            api.create_repository(standard, ns, repo)
    per_ns = api.ok(api.get(f"/instances/{standard}/namespaces/alpha/repositories"))
    assert [r["fullName"] for r in per_ns["items"]] == [
        "alpha/api",
        "alpha/web-app",
        "alpha/worker",
    ]
    everything = api.ok(api.get(f"/instances/{standard}/repositories"))
    assert everything["total"] == 6
    search = api.ok(api.get(f"/instances/{standard}/repositories", params={"name": "w"}))
    assert [r["fullName"] for r in search["items"]] == [
        "alpha/web-app",
        "alpha/worker",
        "beta/web-app",
        "beta/worker",
    ]
    assert (
        api.ok(api.get(f"/instances/{standard}/repositories", params={"name": "beta/api"}))["total"]
        == 1
    )
    # LIKE wildcards are literal.
    assert (
        api.ok(api.get(f"/instances/{standard}/repositories", params={"name": "%"}))["total"] == 0
    )
    assert (
        api.ok(api.get(f"/instances/{standard}/repositories", params={"name": "_"}))["total"] == 0
    )
    page = api.ok(
        api.get(
            f"/instances/{standard}/namespaces/beta/repositories",
            params={"name": "w", "pageSize": 1, "page": 2},
        )
    )
    assert page["total"] == 2 and [r["name"] for r in page["items"]] == ["worker"]


def test_immutable_needs_the_advanced_edition(api: ApiClient, standard: str, advanced: str) -> None:
    api.create_namespace(standard, "std")
    body = error(
        api.post(
            f"/instances/{standard}/namespaces/std/repositories",
            json={"name": "r", "tagMutability": "Immutable"},
        ),
        403,
        "EDITION_REQUIRED",
    )
    assert "Advanced edition" in body["message"] and "immutable" in body["message"]
    api.create_repository(standard, "std", "r")
    body = error(
        api.patch(
            f"/instances/{standard}/namespaces/std/repositories/r",
            json={"tagMutability": "Immutable"},
        ),
        403,
        "EDITION_REQUIRED",
    )
    assert standard in body["message"]
    api.create_namespace(advanced, "adv")
    repo = api.create_repository(advanced, "adv", "r", tagMutability="Immutable")
    assert repo["tagMutability"] == "Immutable"
    path = f"/instances/{advanced}/namespaces/adv/repositories/r"
    assert (
        api.ok(api.patch(path, json={"tagMutability": "Flexible"}))["tagMutability"] == "Flexible"
    )


def _create_many(api: ApiClient, instance: str, names: list[tuple[str, str]]) -> list[int]:
    def one(item: tuple[str, str]) -> int:
        ns, repo = item
        resp = api.post(f"/instances/{instance}/namespaces/{ns}/repositories", json={"name": repo})
        if resp.status_code != 201:
            error(resp, 409, "LIMIT_EXCEEDED")
        return resp.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, names))


def test_repository_limits_of_the_standard_edition(
    registry: DockyardServer, api: ApiClient
) -> None:
    """At most 1,000 repositories in one namespace and 2,000 in the instance; concurrent
    creates stop exactly there, and pushes are refused with DENIED naming the limit."""
    domain = f"{unique('repos')}.example"
    instance = api.create_instance(
        "Standard", endpoints=[{"networkType": "public", "domain": domain}]
    )["id"]
    for ns in ("one", "two", "three"):
        api.create_namespace(instance, ns)
    seed_repositories(registry, instance, "one", 980)
    statuses = _create_many(api, instance, [("one", f"r{i:04d}") for i in range(40)])
    assert statuses.count(201) == 20 and statuses.count(409) == 20
    body = error(
        api.post(f"/instances/{instance}/namespaces/one/repositories", json={"name": "more"}),
        409,
        "LIMIT_EXCEEDED",
    )
    assert "at most 1000 repositories in one namespace" in body["message"]
    assert api.ok(api.get(f"/instances/{instance}/namespaces/one"))["repositoryCount"] == 1000

    seed_repositories(registry, instance, "two", 980)
    statuses = _create_many(api, instance, [("three", f"r{i:04d}") for i in range(40)])
    assert statuses.count(201) == 20 and statuses.count(409) == 20
    body = error(
        api.post(f"/instances/{instance}/namespaces/two/repositories", json={"name": "over"}),
        409,
        "LIMIT_EXCEEDED",
    )
    assert "at most 2000 repositories per instance" in body["message"]
    assert (
        api.ok(api.get(f"/instances/{instance}/repositories", params={"pageSize": 1}))["total"]
        == 2000
    )

    pusher = Pusher(registry, domain)
    try:
        resp = pusher.blob("three/pushed", b"x")
        assert resp.status_code == 403, resp.text
        err = resp.json()["errors"][0]
        assert err["code"] == "DENIED" and "at most 2000 repositories" in err["message"]
    finally:
        pusher.close()
    error(api.get(f"/instances/{instance}/namespaces/three/repositories/pushed"), 404, "NOT_FOUND")
    # Deleting one makes room again, for pushes too.
    assert (
        api.delete(f"/instances/{instance}/namespaces/two/repositories/seed00000").status_code
        == 204
    )
    pusher = Pusher(registry, domain)
    try:
        pusher.image("three/pushed", "v1")
    finally:
        pusher.close()
