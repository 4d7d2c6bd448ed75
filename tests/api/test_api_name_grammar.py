"""The OCI name grammar on every creating entry point of a running server: the API answers
400 ``INVALID_INPUT``, the registry ``NAME_INVALID`` (push, mount into a new repository);
a repository stored before the rule stays pullable and deletable."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.api.conftest import OCI_MANIFEST, ApiClient, Pusher, error, sha256, unique
from tests.conftest import DockyardServer

from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database

pytestmark = pytest.mark.e2e


@pytest.fixture
def domain() -> str:
    """The endpoint domain of ``instance``, for the registry requests' ``Host``."""
    return f"{unique('grammar')}.test"


@pytest.fixture
def instance(api: ApiClient, domain: str) -> str:
    """A Standard instance of its own (so names stored by hand touch no other test)."""
    endpoints = [{"networkType": "vpc", "domain": domain}]
    return str(api.create_instance("Standard", endpoints=endpoints)["id"])


@pytest.fixture
def pusher_on(registry: DockyardServer, instance: str, domain: str) -> Iterator[Pusher]:
    pusher = Pusher(registry, host=domain)
    yield pusher
    pusher.close()


def _store_legacy(server: DockyardServer, instance: str, namespace: str, name: str) -> None:
    """A namespace and repository written straight into the database, as an older
    Dockyard that did not enforce the OCI grammar left them."""

    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            async with db.write() as session:
                ns = await tq.insert_namespace_if_absent(session, instance, namespace)
                await tq.insert_repository_if_absent(session, ns, name, f"crr-{unique()}")
        finally:
            await db.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("name", ["a___b", "a-_b", "a_-b"])
def test_api_refuses_namespaces_outside_the_grammar(
    api: ApiClient, instance: str, name: str
) -> None:
    body = error(
        api.post(f"/instances/{instance}/namespaces", json={"name": name}), 400, "INVALID_INPUT"
    )
    assert name in body["message"] and "OCI name grammar" in body["message"]


def test_api_refuses_repositories_outside_the_grammar(api: ApiClient, instance: str) -> None:
    api.create_namespace(instance, "team")
    body = error(
        api.post(f"/instances/{instance}/namespaces/team/repositories", json={"name": "x___y"}),
        400,
        "INVALID_INPUT",
    )
    assert "x___y" in body["message"] and "OCI name grammar" in body["message"]
    api.create_repository(instance, "team", "x__y")  # two underscores conform


def test_registry_push_and_mount_refuse_new_names(pusher_on: Pusher) -> None:
    pushed = pusher_on.image("team/source", "v1")
    layer = sha256(pushed.layers[0])
    for name in ("a___b/app", "team/a___b"):
        refused = pusher_on.blob(name, b"bytes")
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["code"] == "NAME_INVALID"
        mount = pusher_on.http.post(
            f"/v2/{name}/blobs/uploads/", params={"mount": layer, "from": "team/source"}
        )
        assert mount.status_code == 400
        assert mount.json()["errors"][0]["code"] == "NAME_INVALID"
        manifest = pusher_on.manifest(name, "v1", pushed.manifest, OCI_MANIFEST)
        assert manifest.json()["errors"][0]["code"] == "NAME_INVALID"


def test_legacy_repository_stays_pullable_and_deletable(
    registry: DockyardServer, api: ApiClient, instance: str, pusher_on: Pusher
) -> None:
    _store_legacy(registry, instance, "old___ns", "app")
    pushed = pusher_on.image("old___ns/app", "v1")
    got = pusher_on.http.get("/v2/old___ns/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200 and got.content == pushed.manifest
    # No new repository joins the old namespace.
    refused = pusher_on.blob("old___ns/new", b"bytes")
    assert refused.json()["errors"][0]["code"] == "NAME_INVALID"
    error(
        api.post(f"/instances/{instance}/namespaces/old___ns/repositories", json={"name": "new"}),
        400,
        "INVALID_INPUT",
    )
    assert pusher_on.http.delete(f"/v2/old___ns/app/manifests/{pushed.digest}").status_code == 202
    path = f"/instances/{instance}/namespaces/old___ns/repositories/app"
    assert api.ok(api.get(path))["name"] == "app"
    assert api.delete(path).status_code == 204
    assert api.delete(f"/instances/{instance}/namespaces/old___ns").status_code == 204
