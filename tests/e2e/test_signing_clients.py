"""A signature policy with real clients (issue 19): podman and skopeo pulls of an unsigned
tag under the policy are refused with its message; once the tag is signed with real gpg
they succeed; a tag outside the policy's pattern is pulled all along."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.e2e import clients as C
from tests.gpg import Keyring

pytestmark = [pytest.mark.e2e, pytest.mark.clients]


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    """A GnuPG home of the test's own; its gpg-agent is stopped at the end."""
    with Keyring(tmp_path / "gnupg") as opened:
        yield opened


def test_podman_and_skopeo_pulls_wait_for_a_signature(
    registry: DockyardServer, keyring: Keyring, tmp_path: Path
) -> None:
    ns = f"sigc{secrets.token_hex(3)}"
    repo = f"{ns}/app"
    sk = C.Skopeo(tmp_path / "sk")
    release, dev = C.make_oci_layout(tmp_path / "release"), C.make_oci_layout(tmp_path / "dev")
    for layout, tag in ((release, "release-1"), (dev, "dev")):
        sk.copy(layout.oci_ref, f"docker://{registry.host}/{repo}:{tag}", dest_creds=registry.admin)

    key = keyring.generate("pipeline")
    mns, policy = f"sigm{secrets.token_hex(3)}", f"signed-releases-{secrets.token_hex(3)}"
    meta = f"/instances/default/metadata/namespaces/{mns}"
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=registry.admin) as api:
        created = api.post("/instances/default/metadata/namespaces", json={"NamespaceName": mns})
        assert created.status_code == 201, created.text
        note = {"NoteName": "image-sign", "Note": {"Kind": "ATTESTATION"}}
        assert api.post(meta + "/notes", json=note).status_code == 201
        data = base64.b64encode(keyring.export(key).encode()).decode()
        assert api.post(meta + "/public-keys", json={"publicKeyData": data}).status_code == 201
        body = {
            "name": policy,
            "repository": repo,
            "note": f"{mns}/image-sign",
            "tags": "release-.*",
        }
        assert api.post("/instances/default/signature-policies", json=body).status_code == 201

        with C.Podman(tmp_path / "pm") as pm:
            with pytest.raises(C.ClientError) as podman_refused:
                pm.pull(f"{registry.host}/{repo}:release-1", creds=registry.admin)
            assert policy in podman_refused.value.stderr
            with pytest.raises(C.ClientError) as skopeo_refused:
                sk.inspect_raw(f"docker://{registry.host}/{repo}:release-1", creds=registry.admin)
            assert policy in skopeo_refused.value.stderr
            pm.pull(f"{registry.host}/{repo}:dev", creds=registry.admin)  # outside the pattern

            path = f"/instances/default/namespaces/{ns}/repositories/app"
            url = api.get(f"{path}/manifests/release-1/signatures").json()["ResourceUri"]
            signature = {"Signature": keyring.sign(key, url), "PublicKeyId": key.fingerprint}
            occurrence = {
                "OccurrenceName": "release-1",
                "Occurrence": {
                    "NoteName": "image-sign",
                    "ResourceUri": url,
                    "Kind": "ATTESTATION",
                    "Attestation": {"Signatures": [signature]},
                },
            }
            assert api.post(meta + "/occurrences", json=occurrence).status_code == 201

            pm.pull(f"{registry.host}/{repo}:release-1", creds=registry.admin)
            assert pm.image_digest(f"{registry.host}/{repo}:release-1") == release.digest
            out = tmp_path / "copied"
            copied = sk.copy(
                f"docker://{registry.host}/{repo}:release-1",
                f"oci:{out}:release-1",
                src_creds=registry.admin,
            )
            assert copied == release.digest
