"""Storage usage and namespace quotas against a running server (issue 18): skopeo and
podman refused beyond a quota with a message naming the quota and the usage; concurrent
pushes from threads that cannot overshoot it; the ``dockyard usage`` and ``dockyard quota``
commands."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.dockyard_cli import Cli
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

API = "/api/v1/instances/default"


def _namespace(hint: str) -> str:
    return f"{hint}{secrets.token_hex(3)}"


def _usage(registry: DockyardServer, namespace: str) -> dict[str, Any]:
    with httpx.Client(base_url=registry.url, auth=registry.admin) as api:
        resp = api.get(f"{API}/namespaces/{namespace}/usage")
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()["namespace"]
    return found


def _set_quota(registry: DockyardServer, namespace: str, quota: int | None) -> None:
    with httpx.Client(base_url=registry.url, auth=registry.admin) as api:
        resp = api.put(f"{API}/namespaces/{namespace}/quota", json={"quota": quota})
    assert resp.status_code == 200, resp.text


def _refused_for_quota(error: C.ClientError, quota: int, usage: int) -> None:
    """The client failed and printed our message: the quota and the usage, in bytes."""
    output = error.stdout + error.stderr
    assert "storage quota exceeded" in output, output
    assert f"quota of {quota} bytes" in output, output
    assert f"uses {usage} bytes" in output, output


def test_skopeo_and_podman_show_the_quota_refusal(registry: DockyardServer, tmp_path: Path) -> None:
    ns = _namespace("quota")
    sk = C.Skopeo(tmp_path / "sk")
    base = C.make_oci_layout(tmp_path / "base", layer_size=2048)
    sk.copy(base.oci_ref, f"docker://{registry.host}/{ns}/app:base", dest_creds=registry.admin)
    used = _usage(registry, ns)["deduplicated"]
    assert used > 2048
    quota = used + 1024
    _set_quota(registry, ns, quota)

    bigger = C.make_oci_layout(tmp_path / "bigger", layer_size=64 * 1024)
    with pytest.raises(C.ClientError) as refused:
        sk.copy(bigger.oci_ref, f"docker://{registry.host}/{ns}/app:big", dest_creds=registry.admin)
    _refused_for_quota(refused.value, quota, used)
    with C.Podman(tmp_path / "pm") as pm:
        image = pm.pull(bigger.oci_ref)
        with pytest.raises(C.ClientError) as refused:
            pm.push(image, f"{registry.host}/{ns}/other:big", creds=registry.admin)
        _refused_for_quota(refused.value, quota, used)
    assert _usage(registry, ns)["deduplicated"] == used

    # The same image again under another name adds nothing stored: accepted at the quota.
    sk.copy(base.oci_ref, f"docker://{registry.host}/{ns}/copy:base", dest_creds=registry.admin)
    _set_quota(registry, ns, None)
    sk.copy(bigger.oci_ref, f"docker://{registry.host}/{ns}/app:big", dest_creds=registry.admin)
    assert _usage(registry, ns)["deduplicated"] > quota


LAYER = 20_000
THREADS = 8


def _push(client: RegistryClient, repo: str, index: int) -> tuple[str, list[str]] | None:
    """Push an image of one new layer by HTTP; (manifest digest, blob digests), or None
    when refused with ``DENIED`` at an upload or at the manifest."""
    layer = secrets.token_bytes(LAYER)
    config = f'{{"os":"linux","architecture":"amd64","n":{index}}}'.encode()
    digests = []
    for blob in (config, layer):
        location = client.upload_location(repo)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        resp = client.put(
            location,
            params={"digest": digest},
            content=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
        if resp.status_code == 403:
            assert resp.json()["errors"][0]["code"] == "DENIED", resp.text
            return None
        assert resp.status_code == 201, resp.text
        digests.append(digest)
    manifest = {
        "schemaVersion": 2,
        "mediaType": C.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digests[0],
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digests[1],
                "size": LAYER,
            }
        ],
    }
    body = json.dumps(manifest).encode()
    resp = client.put_manifest(repo, f"t{index}", body, C.OCI_MANIFEST)
    if resp.status_code == 403:
        error = resp.json()["errors"][0]
        assert error["code"] == "DENIED" and "storage quota exceeded" in error["message"]
        return None
    assert resp.status_code == 201, resp.text
    return resp.headers["docker-content-digest"], digests


def test_concurrent_pushes_cannot_overshoot_the_quota(
    registry: DockyardServer, client: RegistryClient
) -> None:
    """Eight threads push eight distinct images at once into a namespace whose quota holds
    three of them but not four: exactly three are accepted, usage stays within the quota,
    and each accepted image pulls whole with verified digests."""
    ns = _namespace("race")
    repos = [f"{ns}/r{i}" for i in range(3)]
    client.random_image(repos[0], "base", layer_size=100)
    used = _usage(registry, ns)["deduplicated"]
    # An image: its 20 000-byte layer, a config and a manifest of well under 1000 bytes.
    quota = used + 3 * (LAYER + 1000) + LAYER // 2
    _set_quota(registry, ns, quota)

    results: list[tuple[str, tuple[str, list[str]] | None]] = [("", None)] * THREADS
    start = threading.Barrier(THREADS)

    def worker(index: int) -> None:
        repo = repos[index % 3]
        with client.clone() as mine:
            start.wait()
            results[index] = (repo, _push(mine, repo, index))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    accepted = [(repo, pushed) for repo, pushed in results if pushed is not None]
    final = _usage(registry, ns)["deduplicated"]
    assert len(accepted) == 3, results
    assert final <= quota
    for repo, (manifest_digest, blobs) in accepted:
        got = client.get_manifest(repo, manifest_digest, accept=C.OCI_MANIFEST)
        assert got.status_code == 200
        assert "sha256:" + hashlib.sha256(got.content).hexdigest() == manifest_digest
        for digest in blobs:
            blob = client.get_blob(repo, digest)
            assert blob.status_code == 200
            assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == digest
    # Usage is the base image plus every accepted image, each counted whole.
    accepted_bytes = 0
    for repo, (manifest_digest, blobs) in accepted:
        got = client.get_manifest(repo, manifest_digest, accept=C.OCI_MANIFEST)
        accepted_bytes += len(got.content) + sum(
            len(client.get_blob(repo, digest).content) for digest in blobs
        )
    assert final == used + accepted_bytes


def test_usage_and_quota_commands(
    registry: DockyardServer, client: RegistryClient, tmp_path: Path
) -> None:
    ns = _namespace("cli")
    shared = client.random_image(f"{ns}/a", "v1", layer_size=3000)
    for digest in [shared.config_digest, *shared.layer_digests]:
        assert client.mount(f"{ns}/b", digest, f"{ns}/a").status_code == 201
    put = client.put_manifest(f"{ns}/b", "v1", shared.manifest, C.OCI_MANIFEST)
    assert put.status_code == 201, put.text
    cli = Cli(tmp_path / "home")
    cli.login(registry.url, *registry.admin)

    detail = cli.json("usage", ns)
    figures = detail["namespace"]
    assert figures["logical"] == 2 * figures["deduplicated"]
    assert [r["name"] for r in detail["repositories"]] == ["a", "b"]
    table = cli.run("usage", ns).stdout
    assert f"Namespace {ns}: logical {figures['logical']} bytes" in table
    assert cli.json("usage", f"{ns}/b")["deduplicated"] == figures["deduplicated"]
    explained = cli.run("usage", ns, "--explain").stdout
    assert "counted once" in explained and "a, b" in explained
    assert "explains a namespace" in cli.run("usage", "--explain", expect=2).stderr
    instance = cli.json("usage")
    assert instance["deduplicated"] >= figures["deduplicated"]

    assert cli.json("quota", "set", ns, "10GiB")["quota"] == 10 * 1024**3
    assert cli.json("quota", "set", ns, "1.5kB")["quota"] == 1500
    assert "quota 1500 bytes" in cli.run("usage", ns).stdout
    assert cli.json("quota", "set", ns, "none")["quota"] is None
    refused = cli.run("quota", "set", ns, "ten", expect=2)
    assert "not a size" in refused.stderr
    missing = cli.run("quota", "set", f"{ns}x", "1GiB", expect=1)
    assert "does not exist" in missing.stderr

    with httpx.Client(base_url=registry.url, auth=registry.admin) as api:
        events = api.get("/api/v1/audit-events", params={"action": "cr:UpdateQuota"})
    assert events.status_code == 200, events.text
    mine = [e for e in events.json()["items"] if e.get("detail", {}).get("namespace") == ns]
    assert [e["detail"]["quota"] for e in mine] == [None, 1500, 10 * 1024**3]
