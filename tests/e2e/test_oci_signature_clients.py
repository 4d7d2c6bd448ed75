"""cosign and Notation signatures stored in the registry (issue 19), pushed with real
clients and verified by a running server: an image pushed with skopeo; a keyed cosign
signature under its ``sha256-<hex>.sig`` tag and a Notation JWS envelope as its referrer,
both pushed with python-dxf. No cosign or notation binary exists here: the signatures are
built from the published formats with ``cryptography`` (tests/oci_signatures.py).

The API, ``dockyard verify`` and the admission endpoint list them with their type; one
by an unregistered key and one over another digest say why they fail; a signature policy
naming the registered cosign key admits the image; replication to another instance
carries them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import oci_signatures as S
from tests.api.conftest import ApiClient
from tests.api.test_api_replication import replicate
from tests.conftest import DockyardServer
from tests.dockyard_cli import Cli
from tests.e2e import clients as C

pytestmark = [pytest.mark.e2e, pytest.mark.clients]


@pytest.fixture
def api(registry: DockyardServer) -> Iterator[ApiClient]:
    client = ApiClient(registry, auth=registry.admin)
    yield client
    client.close()


def push(registry: DockyardServer, repo: str, artifact: S.Artifact, reference: str) -> None:
    """The artifact's blobs and manifest, with python-dxf."""
    dxf = C.dxf_client(registry.host, repo, *registry.admin)
    for blob in artifact.blobs:
        dxf.push_blob(data=iter([blob.data]), digest=blob.digest)
    dxf.set_manifest(reference, artifact.body.decode())


def by_manifest(checks: list[dict[str, Any]], digest: str, key: str = "manifest") -> list[Any]:
    return [c for c in checks if c[key] == digest]


def test_cosign_and_notation_signatures_are_listed_verified_and_admit(
    registry: DockyardServer, api: ApiClient, tmp_path: Path
) -> None:
    ns = f"oci{secrets.token_hex(3)}"
    repo = f"{ns}/app"
    image = C.make_oci_layout(tmp_path / "image")
    sk = C.Skopeo(tmp_path / "sk")
    sk.copy(image.oci_ref, f"docker://{registry.host}/{repo}:v1", dest_creds=registry.admin)
    subject = {"mediaType": image.media_type, "digest": image.digest, "size": image.size}

    cosign_key = S.ec_key()
    leaf_key, chain = S.certificate_chain()
    reference = f"{registry.host}/{repo}"
    # cosign's tag scheme: one manifest, one layer per signature (the second names
    # another image), and an OCI 1.1 referrer by a key nobody registered.
    cosign = S.cosign_signature(cosign_key, reference, image.digest)
    other = S.cosign_signature(cosign_key, reference, "sha256:" + "0" * 64)
    cosign.manifest["layers"].append(other.manifest["layers"][0])
    cosign = S.Artifact(cosign.manifest, [*cosign.blobs, other.blobs[1]])
    stranger = S.cosign_signature(S.ec_key(), reference, image.digest, referrer=subject)
    notation = S.notation_signature(S.notation_envelope(leaf_key, chain, subject), subject)
    push(registry, repo, cosign, S.cosign_tag(image.digest))
    push(registry, repo, stranger, stranger.digest)
    push(registry, repo, notation, notation.digest)

    mns = f"ocim{secrets.token_hex(3)}"
    meta = f"/instances/default/metadata/namespaces/{mns}"
    api.ok(api.post("/instances/default/metadata/namespaces", json={"NamespaceName": mns}), 201)
    root = {"PublicKey": S.certificate_pem(chain[1])}
    root_fp = api.ok(api.post(meta + "/public-keys", json=root), 201)
    cli = Cli(tmp_path / "cli")
    cli.login(registry.url, *registry.admin)
    (tmp_path / "cosign.pub").write_text(S.public_pem(cosign_key))
    cosign_fp = cli.json("signing", "key", "add", mns, "--file", str(tmp_path / "cosign.pub"))
    assert (root_fp["UserId"], root_fp["KeyType"], cosign_fp["KeyType"]) == (
        "CN=Dockyard Test Root",
        "X509",
        "PEM",
    )
    listed = {k["Fingerprint"] for k in api.ok(api.get(meta + "/public-keys"))}
    assert listed == {cosign_fp["Fingerprint"], root_fp["Fingerprint"]}

    found = cli.json("verify", f"{repo}:v1")
    assert found["Verified"] is True and found["Signatures"] == []
    checks = found["OciSignatures"]
    assert len(checks) == 4
    good, wrong = by_manifest(checks, S.cosign_tag(image.digest), "Tag")
    assert (good["Type"], good["Valid"], good["Reason"]) == ("cosign", True, None)
    assert (good["MetadataNamespace"], good["Fingerprint"]) == (mns, cosign_fp["Fingerprint"])
    assert wrong["Reason"] == f"payload names another digest (sha256:{'0' * 64})"
    [unknown] = by_manifest(checks, stranger.digest, "Manifest")
    assert (unknown["Type"], unknown["Valid"], unknown["Reason"]) == (
        "cosign",
        False,
        "unknown key",
    )
    [notary] = by_manifest(checks, notation.digest, "Manifest")
    assert (notary["Type"], notary["Valid"], notary["Fingerprint"]) == (
        "notation",
        True,
        root_fp["Fingerprint"],
    )
    table = cli.run("verify", f"{repo}@{image.digest}").stdout
    assert "notation" in table and "unknown key" in table

    note = {"NoteName": "image-sign", "Note": {"Kind": "ATTESTATION"}}
    api.ok(api.post(meta + "/notes", json=note), 201)
    policy = {
        "name": f"cosigned-{secrets.token_hex(3)}",
        "repository": repo,
        "note": f"{mns}/image-sign",
        "keys": [cosign_fp["Fingerprint"]],
    }
    api.ok(api.post("/instances/default/signature-policies", json=policy), 201)
    answer = api.ok(api.post("/instances/default/admission", json={"image": f"{repo}:v1"}))
    assert answer["admitted"] is True, answer
    [outcome] = answer["policies"]
    assert outcome["reasons"] == [f"cosign signature {cosign.digest} by {cosign_fp['Fingerprint']}"]
    assert len(answer["ociSignatures"]) == 4
    referrers = api.http.get(f"{registry.url}/v2/{repo}/referrers/{image.digest}").json()
    types = sorted(m["artifactType"] for m in referrers["manifests"])
    assert types == [S.NOTATION_ARTIFACT, S.COSIGN_ARTIFACT]

    # Replicated to another instance: the referrers and the .sig tag go along; the
    # keys stay with the instance that registered them.
    target = str(api.create_instance("Advanced")["id"])
    assert replicate(api, repo, tag="v1", to=target)["status"] == "Completed"
    path = f"{api.repo_path(target, repo)}/manifests/v1/signatures"
    there = api.ok(api.get(path))["OciSignatures"]
    assert sorted((c["Type"], c["Manifest"], c["Tag"]) for c in there) == sorted(
        (c["Type"], c["Manifest"], c["Tag"]) for c in checks
    )
    assert {c["Reason"] for c in there} == {"unknown key"}

    # The policy gates /v2 pulls: skopeo reads the image while the cosign signature by the
    # policy's key is there, and is refused with the policy's name once it is deleted (the
    # Notation signature is by a key the policy does not name).
    ref = f"docker://{registry.host}/{repo}:v1"
    assert sk.inspect_raw(ref, creds=registry.admin)
    gone = api.http.delete(
        f"{registry.url}/v2/{repo}/manifests/{cosign.digest}", auth=registry.admin
    )
    assert gone.status_code == 202, gone.text
    with pytest.raises(C.ClientError) as refused:
        sk.inspect_raw(ref, creds=registry.admin)
    assert f"signature policy {policy['name']} refuses" in refused.value.stderr
