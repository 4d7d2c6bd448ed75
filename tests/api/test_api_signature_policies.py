"""Signature policies through the API and the registry protocol (issue 19): a manifest
GET/HEAD of an unsigned image refused with DENIED naming the policy, served once signed;
tag patterns; the index rule (a signed index admits its children, a child signed alone
admits only itself); what is not gated; the admission endpoint; bad policies refused."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from tests.api.conftest import (
    OCI_INDEX,
    OCI_MANIFEST,
    ApiClient,
    Pusher,
    canonical,
    error,
    sha256,
    unique,
)
from tests.api.test_api_signing import Signing, verification
from tests.gpg import Key, Keyring

pytestmark = pytest.mark.e2e

POLICIES = "/instances/default/signature-policies"
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    with Keyring(tmp_path_factory.mktemp("gnupg-policies") / "home") as opened:
        yield opened


@pytest.fixture(scope="module")
def signer(keyring: Keyring) -> Key:
    return keyring.generate("gatekeeper")


def metadata(api: ApiClient, keyring: Keyring, key: Key) -> Signing:
    """A metadata namespace with note ``image-sign`` and ``key`` registered."""
    signing = Signing(api, unique("gate"))
    body = {"NamespaceName": signing.name}
    api.ok(api.post("/instances/default/metadata/namespaces", json=body), 201)
    api.ok(signing.note("image-sign"), 201)
    data = base64.b64encode(keyring.export(key).encode()).decode()
    api.ok(api.post(signing.path + "/public-keys", json={"publicKeyData": data}), 201)
    return signing


def sign(api: ApiClient, signing: Signing, keyring: Keyring, key: Key, repo: str, ref: str) -> None:
    url = verification(api, repo, ref)["ResourceUri"]
    name = unique("occ")
    signature = keyring.sign(key, url)
    api.ok(signing.occurrence(name, "image-sign", url, signature, key.fingerprint), 201)


def pull_status(pusher: Pusher, repo: str, ref: str, method: str = "GET") -> tuple[int, str]:
    resp = pusher.http.request(method, f"/v2/{repo}/manifests/{ref}", headers=ACCEPT)
    return resp.status_code, resp.text


def admission(api: ApiClient, image: str) -> dict[str, Any]:
    found: dict[str, Any] = api.ok(api.post("/instances/default/admission", json={"image": image}))
    return found


def test_pulls_need_a_signature_and_the_tag_pattern_scopes_the_policy(
    api: ApiClient, pusher: Pusher, keyring: Keyring, signer: Key
) -> None:
    ns = unique("gate")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    repo = f"{ns}/app"
    release = pusher.image(repo, "release-1")
    pusher.image(repo, "dev")
    signing = metadata(api, keyring, signer)
    body = {
        "name": unique("needsig"),
        "repository": repo,
        "note": f"{signing.name}/image-sign",
        "keys": [signer.fingerprint],
        "tags": "release-.*",
    }
    created = api.ok(api.post(POLICIES, json=body), 201)
    assert created["note"] == f"{signing.name}/image-sign"
    assert created["keys"] == [signer.fingerprint] and created["tags"] == "release-.*"
    error(api.post(POLICIES, json=body), 409, "ALREADY_EXISTS")

    status, text = pull_status(pusher, repo, "release-1")
    assert status == 403 and "DENIED" in text and body["name"] in text
    assert "no signature of note" in text
    assert pull_status(pusher, repo, "release-1", "HEAD")[0] == 403
    assert pull_status(pusher, repo, release.digest)[0] == 403  # a matching tag points at it
    assert pull_status(pusher, repo, "dev")[0] == 200  # another tag: not under the policy
    # Blob GETs and the management API are not gated.
    config = pusher.http.get(f"/v2/{repo}/blobs/{sha256(release.config)}")
    assert config.status_code == 200
    assert api.get(f"{api.repo_path('default', repo)}/manifests/release-1").status_code == 200
    refused = admission(api, f"registry.example.com/{repo}@{release.digest}")
    assert refused["admitted"] is False
    [outcome] = refused["policies"]
    assert (outcome["policy"], outcome["applies"], outcome["satisfied"]) == (
        body["name"],
        True,
        False,
    )

    sign(api, signing, keyring, signer, repo, "release-1")
    assert pull_status(pusher, repo, "release-1") == (200, release.manifest.decode())
    assert pull_status(pusher, repo, "release-1", "HEAD")[0] == 200
    assert admission(api, f"{repo}:release-1")["admitted"] is True

    # A tag pushed later under the pattern is refused until it is signed too.
    pusher.image(repo, "release-2")
    assert pull_status(pusher, repo, "release-2")[0] == 403
    api.ok(api.delete(f"{POLICIES}/{body['name']}"), 204)
    assert pull_status(pusher, repo, "release-2")[0] == 200


def push_index(pusher: Pusher, repo: str, tag: str) -> tuple[str, str, str]:
    """An index of two platform images; its digest and its children's."""
    amd = pusher.image(repo, f"{tag}-amd64")
    arm = pusher.image(repo, f"{tag}-arm64", platform=("linux", "arm64"))
    index = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for child, arch in ((amd, "amd64"), (arm, "arm64"))
            ],
        }
    )
    resp = pusher.manifest(repo, tag, index, OCI_INDEX)
    assert resp.status_code == 201, resp.text
    return resp.headers["Docker-Content-Digest"], amd.digest, arm.digest


def test_index_rule_and_namespace_policy(
    api: ApiClient, pusher: Pusher, keyring: Keyring, signer: Key
) -> None:
    ns = unique("gateidx")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "multi")
    repo = f"{ns}/multi"
    signed_index, child_a, child_b = push_index(pusher, repo, "one")
    other_index, child_c, child_d = push_index(pusher, repo, "two")
    signing = metadata(api, keyring, signer)
    body = {"name": unique("nsgate"), "namespace": ns, "note": f"{signing.name}/image-sign"}
    api.ok(api.post(POLICIES, json=body), 201)

    # A signed index admits itself and its children.
    sign(api, signing, keyring, signer, repo, signed_index)
    for ref in ("one", signed_index, child_a, child_b):
        assert pull_status(pusher, repo, ref)[0] == 200, ref
    # A child signed alone admits only itself.
    sign(api, signing, keyring, signer, repo, child_c)
    assert pull_status(pusher, repo, child_c)[0] == 200
    for ref in ("two", other_index, child_d):
        status, text = pull_status(pusher, repo, ref)
        assert status == 403 and body["name"] in text, ref


def test_bad_policies_are_refused(api: ApiClient, keyring: Keyring, signer: Key) -> None:
    ns = unique("gatebad")
    api.create_namespace("default", ns)
    signing = metadata(api, keyring, signer)
    note = f"{signing.name}/image-sign"
    base = {"name": unique("bad"), "namespace": ns, "note": note}
    stranger = "A" * 40

    def refused(change: dict[str, Any], status: int, code: str, words: str) -> None:
        assert words in error(api.post(POLICIES, json={**base, **change}), status, code)["message"]

    refused({"note": f"{signing.name}/nope"}, 404, "NOT_FOUND", "note")
    refused({"note": "no-slash"}, 400, "INVALID_INPUT", "note")
    refused({"keys": [stranger]}, 400, "INVALID_INPUT", "keys")
    refused({"keys": ["xyz"]}, 400, "INVALID_INPUT", "fingerprint")
    refused({"tags": "("}, 400, "INVALID_INPUT", "tags")
    refused({"repository": f"{ns}/app"}, 400, "INVALID_INPUT", "not both")
    refused({"namespace": unique("absent")}, 404, "NOT_FOUND", "namespace")
    refused({"namespace": None, "repository": "no-slash"}, 400, "INVALID_INPUT", "repository")
    names = [p["name"] for p in api.ok(api.get(POLICIES, params={"pageSize": 100}))["items"]]
    assert base["name"] not in names
