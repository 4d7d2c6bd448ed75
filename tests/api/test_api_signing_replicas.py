"""Occurrences live with their image (issue 19): replication to another instance of this
deployment carries the occurrences over the copied manifests (with their metadata
namespace and note, never the keys: the destination verifies once it trusts the key), and
a manifest deleted by digest takes its occurrences with it. Real GnuPG signs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.conftest import ApiClient, Pusher, unique
from tests.api.test_api_replication import replicate
from tests.api.test_api_signing import Signing, verification
from tests.gpg import Keyring

pytestmark = pytest.mark.e2e


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    with Keyring(tmp_path / "gnupg") as opened:
        yield opened


def names(listed: dict[str, Any]) -> list[str]:
    return [o["Name"].rsplit("/", 1)[1] for o in listed["Occurrences"]]


def test_occurrences_travel_with_a_replicated_image_and_go_with_a_deleted_manifest(
    api: ApiClient, pusher: Pusher, keyring: Keyring
) -> None:
    full_name = f"{unique('sigr')}/app"
    v1 = pusher.image(full_name, "v1").digest
    v2 = pusher.image(full_name, "v2").digest
    publisher = keyring.generate("replicated")
    key = {"publicKeyData": base64.b64encode(keyring.export(publisher).encode()).decode()}
    mns = unique("meta")
    api.ok(api.post("/instances/default/metadata/namespaces", json={"NamespaceName": mns}), 201)
    signing = Signing(api, mns)
    api.ok(signing.note("image-sign"), 201)
    api.ok(api.post(signing.path + "/public-keys", json=key), 201)
    urls = {}
    for name, ref in (("sig-v1", "v1"), ("sig-v2", "v2")):
        urls[ref] = verification(api, full_name, ref)["ResourceUri"]
        signature = keyring.sign(publisher, urls[ref])
        api.ok(
            signing.occurrence(name, "image-sign", urls[ref], signature, publisher.fingerprint), 201
        )

    target = str(api.create_instance("Advanced")["id"])
    for _run in range(2):  # a second run carries nothing twice
        assert replicate(api, full_name, tag="v1", to=target)["status"] == "Completed"
    there = Signing(api, mns)
    there.path = f"/instances/{target}/metadata/namespaces/{mns}"
    carried = there.occurrences()
    assert names(carried) == ["sig-v1"]  # v2 was not replicated
    assert carried["Occurrences"][0]["ResourceUri"] == urls["v1"]
    path = f"{api.repo_path(target, full_name)}/manifests/v1/signatures"
    [untrusted] = api.ok(api.get(path))["Signatures"]
    assert (untrusted["Valid"], untrusted["Reason"]) == (False, "unknown key")
    api.ok(api.post(there.path + "/public-keys", json=key), 201)
    trusted = api.ok(api.get(path))
    assert trusted["Verified"] is True and trusted["Signatures"][0]["Valid"] is True

    deleted = pusher.http.delete(f"/v2/{full_name}/manifests/{v2}")
    assert deleted.status_code == 202, deleted.text
    assert names(signing.occurrences()) == ["sig-v1"]
    assert verification(api, full_name, v1)["Verified"] is True
