"""Namespaces: CRUD, name rules, forced delete, auto_create, default repository type, and
the namespace limit, also under concurrent creates and registry pushes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.api.conftest import ApiClient, Pusher, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e


def test_create_get_list_update_delete(api: ApiClient, standard: str) -> None:
    created = api.create_namespace(standard, "team-a", autoCreate=False)
    assert created == {
        **created,
        "instanceId": standard,
        "name": "team-a",
        "autoCreate": False,
        "defaultRepositoryType": "private",
        "repositoryCount": 0,
    }
    path = f"/instances/{standard}/namespaces/team-a"
    got = api.get(path)
    assert api.ok(got) == created
    etag = got.headers["etag"]
    listed = api.ok(api.get(f"/instances/{standard}/namespaces"))
    assert [n["name"] for n in listed["items"]] == ["team-a"] and listed["total"] == 1

    updated = api.patch(
        path,
        json={"autoCreate": True, "defaultRepositoryType": "public"},
        headers={"If-Match": etag},
    )
    assert api.ok(updated)["autoCreate"] is True
    assert updated.json()["defaultRepositoryType"] == "public"
    error(
        api.patch(path, json={"autoCreate": False}, headers={"If-Match": etag}),
        412,
        "PRECONDITION_FAILED",
    )
    assert api.ok(api.patch(path, json={}))["autoCreate"] is True

    assert api.delete(path).status_code == 204
    error(api.get(path), 404, "NOT_FOUND")
    error(api.delete(path), 404, "NOT_FOUND")
    error(api.patch(path, json={}), 404, "NOT_FOUND")


@pytest.mark.parametrize("name", ["a", "-ab", "ab-", "Team", "a" * 31, "a/b", "a.b", "ab_"])
def test_namespace_name_rules(api: ApiClient, standard: str, name: str) -> None:
    error(
        api.post(f"/instances/{standard}/namespaces", json={"name": name}), 422, "VALIDATION_FAILED"
    )


def test_duplicates_and_unknown_instances(api: ApiClient, standard: str) -> None:
    api.create_namespace(standard, "dup")
    body = error(
        api.post(f"/instances/{standard}/namespaces", json={"name": "dup"}), 409, "ALREADY_EXISTS"
    )
    assert "dup" in body["message"]
    error(api.post("/instances/cri-nope/namespaces", json={"name": "x1"}), 404, "NOT_FOUND")
    error(api.get("/instances/cri-nope/namespaces"), 404, "NOT_FOUND")
    error(
        api.post(
            f"/instances/{standard}/namespaces",
            json={"name": "x1", "defaultRepositoryType": "shared"},
        ),
        422,
        "VALIDATION_FAILED",
    )


def test_delete_refused_while_not_empty_unless_forced(api: ApiClient, standard: str) -> None:
    api.create_namespace(standard, "full")
    api.create_repository(standard, "full", "one")
    api.create_repository(standard, "full", "two")
    path = f"/instances/{standard}/namespaces/full"
    assert api.ok(api.get(path))["repositoryCount"] == 2
    body = error(api.delete(path), 409, "NAMESPACE_NOT_EMPTY")
    assert "2 repositories" in body["message"] and "force" in body["message"]
    api.ok(api.get(f"{path}/repositories/one"))
    assert api.delete(path, params={"force": "true"}).status_code == 204
    error(api.get(f"{path}/repositories/one"), 404, "NOT_FOUND")
    assert api.ok(api.get(f"/instances/{standard}/repositories"))["total"] == 0
    # The name is free again, and empty.
    assert api.create_namespace(standard, "full")["repositoryCount"] == 0


def test_auto_create_and_default_repository_type_govern_pushes(
    registry: DockyardServer, api: ApiClient, pusher: Pusher
) -> None:
    closed, open_ = unique("closed"), unique("open")
    api.create_namespace("default", closed, autoCreate=False)
    api.create_namespace("default", open_, defaultRepositoryType="public")

    # auto_create off: a push to a missing repository is NAME_UNKNOWN.
    resp = pusher.blob(f"{closed}/app", b"data")
    assert resp.status_code == 404, resp.text
    assert resp.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert "does not create repositories on push" in resp.json()["errors"][0]["message"]
    # ...but a repository created through the API takes pushes.
    api.create_repository("default", closed, "app")
    pusher.image(f"{closed}/app", "v1")

    # default type public: the pushed repository is public, and anyone may pull it.
    pushed = pusher.image(f"{open_}/app", "v1")
    repo = api.ok(api.get(api.repo_path("default", f"{open_}/app")))
    assert repo["type"] == "public"
    anon = httpx.get(
        f"{registry.url}/v2/{open_}/app/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    # Anonymous pull works with a token (no credentials) from the realm.
    token = httpx.get(
        f"{registry.url}/auth/token",
        params={"service": "dockyard", "scope": f"repository:{open_}/app:pull"},
    ).json()["token"]
    anon = httpx.get(
        f"{registry.url}/v2/{open_}/app/manifests/v1",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json",
            "Authorization": f"Bearer {token}",
        },
    )
    assert anon.status_code == 200 and anon.headers["docker-content-digest"] == pushed.digest
    # A private one (the default) is not.
    pusher.image(f"{closed}/private", "v1", expect=404)  # auto_create is off there
    api.create_repository("default", open_, "secret", type="private")
    token = httpx.get(
        f"{registry.url}/auth/token",
        params={"service": "dockyard", "scope": f"repository:{open_}/secret:pull"},
    ).json()["token"]
    denied = httpx.get(
        f"{registry.url}/v2/{open_}/secret/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert denied.status_code == 401


def test_concurrent_creates_stop_exactly_at_the_standard_limit(
    api: ApiClient, standard: str
) -> None:
    """30 concurrent creates on a Standard instance: exactly 15 exist, 15 are refused."""

    def create(i: int) -> httpx.Response:
        return api.post(f"/instances/{standard}/namespaces", json={"name": f"race{i:02d}"})

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(create, range(30)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 15 + [409] * 15, statuses
    for resp in results:
        if resp.status_code == 409:
            body = error(resp, 409, "LIMIT_EXCEEDED")
            assert "at most 15 namespaces" in body["message"]
            assert "Standard" in body["message"]
    listed = api.ok(api.get(f"/instances/{standard}/namespaces", params={"pageSize": 100}))
    assert listed["total"] == 15 and len(listed["items"]) == 15
    error(
        api.post(f"/instances/{standard}/namespaces", json={"name": "onemore"}),
        409,
        "LIMIT_EXCEEDED",
    )


def test_pushes_obey_the_namespace_limit(registry: DockyardServer, api: ApiClient) -> None:
    """Auto-creation by push counts against the same limit, refused with DENIED."""
    domain = f"{unique('lim')}.example"
    instance = api.create_instance(
        "Standard", endpoints=[{"networkType": "public", "domain": domain}]
    )["id"]
    for i in range(14):
        api.create_namespace(instance, f"ns{i:02d}")
    pusher = Pusher(registry, domain)
    try:
        pusher.image("pushed/app", "v1")  # the 15th namespace, made by the push
        resp = pusher.blob("another/app", b"x")
        assert resp.status_code == 403, resp.text
        err = resp.json()["errors"][0]
        assert err["code"] == "DENIED"
        assert "at most 15 namespaces" in err["message"]
    finally:
        pusher.close()
    names = {n["name"] for n in api.ok(api.get(f"/instances/{instance}/namespaces"))["items"]}
    assert "pushed" in names and "another" not in names and len(names) == 15
