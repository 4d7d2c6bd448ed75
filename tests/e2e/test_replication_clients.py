"""Replication between two Dockyard servers (separate data dirs), with real clients: a
two-platform index pushed with ``skopeo copy --all`` to one, replicated across accounts to
the other through a remote (token auth there), and pulled per platform with podman."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import API, OCI_INDEX, Pusher, add_user
from tests.conftest import DockyardServer, ServerFactory
from tests.e2e import clients as C
from tests.e2e.test_tls_clients import HttpsDockyardServer, make_test_ca

pytestmark = pytest.mark.e2e

ACCEPT = f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"
READER_PASSWORD = "Reader-pass-1"


def test_an_index_replicated_to_another_dockyard_pulls_per_platform(
    registry: DockyardServer, fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    other = fresh_registry()
    layout = C.make_oci_layout(tmp_path / "layout", platforms=["linux/amd64", "linux/arm64"])
    name = "replclients/multi"
    pushed = C.Skopeo(tmp_path / "sk").copy(
        layout.oci_ref, f"docker://{registry.host}/{name}:v1", all=True, dest_creds=registry.admin
    )
    with httpx.Client(base_url=registry.url + API, auth=registry.admin, timeout=60) as api:
        remote = {"name": "other", "url": other.url, "username": other.admin_user,
                  "secret": other.admin_password}  # fmt: skip
        assert api.post("/instances/default/replication-remotes", json=remote).status_code == 201
        path = "/instances/default/namespaces/replclients/repositories/multi/replication-tasks"
        created = api.post(path, json={"tag": "v1", "to": "other"})
        assert created.status_code == 201, created.text
        task = _final(api, created.json()["items"][0]["id"])
    assert task["status"] == "Completed", task
    assert task["sourceDigest"] == pushed
    assert task["bytesSent"] > 0

    with httpx.Client(base_url=other.url, auth=other.admin, timeout=60) as there:
        got = there.get(f"/v2/{name}/manifests/v1", headers={"Accept": ACCEPT})
        assert got.status_code == 200, got.text
        assert got.headers["docker-content-digest"] == pushed
    for platform, arch in (("linux/amd64", "amd64"), ("linux/arm64", "arm64")):
        with C.Podman(tmp_path / f"pm-{arch}") as podman:
            podman.pull(f"{other.host}/{name}:v1", creds=other.admin, platform=platform)
            assert podman.image_inspect(f"{other.host}/{name}:v1")["Architecture"] == arch

    # A user there who may only read: signed in, refused the push, nothing written.
    add_user(other, "reader", READER_PASSWORD, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=registry.admin, timeout=60) as api:
        remote = {"name": "reader", "url": other.url, "username": "reader",
                  "secret": READER_PASSWORD}  # fmt: skip
        assert api.post("/instances/default/replication-remotes", json=remote).status_code == 201
        body = {"tag": "v1", "to": "reader", "destinationRepository": "elsewhere"}
        created = api.post(path, json=body)
        assert created.status_code == 201, created.text
        denied = _final(api, created.json()["items"][0]["id"])
    assert denied["status"] == "Failed"
    assert str(denied["reason"]).startswith("permission denied"), denied
    with httpx.Client(base_url=other.url, auth=other.admin, timeout=60) as there:
        absent = there.get("/v2/replclients/elsewhere/manifests/v1", headers={"Accept": ACCEPT})
        assert absent.status_code == 404


def _final(api: httpx.Client, task_id: str) -> dict[str, object]:
    """The task once Completed, Failed or Cancelled (the deadline is no measurement)."""
    deadline = time.monotonic() + 120
    while True:
        task: dict[str, object] = api.get(f"/instances/default/replication-tasks/{task_id}").json()
        if task["status"] in ("Completed", "Failed", "Cancelled"):
            return task
        assert time.monotonic() < deadline, f"task still {task['status']}"
        time.sleep(0.2)


def test_a_remote_over_tls_is_trusted_with_its_ca_bundle_only(
    registry: DockyardServer, tmp_path: Path
) -> None:
    ca, cert, key = make_test_ca(tmp_path / "pki")
    other = HttpsDockyardServer(tmp_path / "tls", ca, cert, key).start()
    try:
        name = "repltls/app"
        pusher = Pusher(registry)
        try:
            pushed = pusher.image(name, "v1")
        finally:
            pusher.close()
        path = "/instances/default/namespaces/repltls/repositories/app/replication-tasks"
        base = {"url": other.url, "username": other.admin_user, "secret": other.admin_password}
        with httpx.Client(base_url=registry.url + API, auth=registry.admin, timeout=60) as api:
            trusting = {"caBundle": ca.read_text()}
            for remote in (
                {"name": "tls-untrusted", **base},
                {"name": "tls-trusted", **base, **trusting},
            ):
                assert api.post("/instances/default/replication-remotes", json=remote).is_success
            untrusted = api.post(path, json={"tag": "v1", "to": "tls-untrusted"}).json()
            refused = _final(api, untrusted["items"][0]["id"])
            trusted = api.post(path, json={"tag": "v1", "to": "tls-trusted"}).json()
            done = _final(api, trusted["items"][0]["id"])
        assert refused["status"] == "Failed"
        assert str(refused["reason"]).startswith("TLS certificate not trusted"), refused
        assert done["status"] == "Completed", done
        with httpx.Client(base_url=other.url, auth=other.admin, verify=other.trust) as there:
            got = there.get(f"/v2/{name}/manifests/v1", headers={"Accept": ACCEPT})
            assert got.headers["docker-content-digest"] == pushed.digest
    finally:
        other.stop()
