"""Signing through the API (issue 19): the guide's flow with real GnuPG keys (image URL,
``gpg --armor --sign``, note, occurrence, lists by note and by resource URI), verification
and each way it fails, bad input refused with the field named and nothing half-written,
audit rows, and the actions a reader lacks."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.conftest import API, ApiClient, Pusher, add_user, error, unique
from tests.conftest import DockyardServer
from tests.gpg import Key, Keyring

pytestmark = pytest.mark.e2e

#: The guide's example note expired in 2021; a past time is accepted.
EXPIRED = "2021-01-01T00:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"


def note_json(ns: str, name: str, expires: str = FUTURE) -> dict[str, Any]:
    return {
        "name": f"/namespaces/{ns}/notes/{name}",
        "ShortDescription": "image signed by the release pipeline",
        "LongDescription": "signed with gpg --armor --sign",
        "ExpirationTime": expires,
        "Kind": "ATTESTATION",
        "Attestation": {"Hint": {"HumanReadableName": "release signer"}},
    }


def occurrence_json(
    ns: str, name: str, note: str, uri: str, signature: str, key_id: str
) -> dict[str, Any]:
    return {
        "Name": f"/namespaces/{ns}/occurrences/{name}",
        "NoteName": note,
        "ResourceUri": uri,
        "Kind": "ATTESTATION",
        "Attestation": {"Signatures": [{"Signature": signature, "PublicKeyId": key_id}]},
    }


class Signing:
    """One metadata namespace of the default instance, and shortcuts into it."""

    def __init__(self, api: ApiClient, name: str) -> None:
        self.api, self.name = api, name
        self.path = f"/instances/default/metadata/namespaces/{name}"

    def note(self, note: str, expires: str = FUTURE) -> httpx.Response:
        body = {"NoteName": note, "Note": note_json(self.name, note, expires)}
        return self.api.post(self.path + "/notes", json=body)

    def occurrence(self, name: str, note: str, uri: str, sig: str, key: str) -> httpx.Response:
        body = {
            "OccurrenceName": name,
            "Occurrence": occurrence_json(self.name, name, note, uri, sig, key),
        }
        return self.api.post(self.path + "/occurrences", json=body)

    def occurrences(self, **params: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.ok(self.api.get(self.path + "/occurrences", params=params))
        return found


def verification(api: ApiClient, full_name: str, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = api.ok(
        api.get(f"{api.repo_path('default', full_name)}/manifests/{ref}/signatures")
    )
    return found


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    with Keyring(tmp_path_factory.mktemp("gnupg") / "home") as opened:
        yield opened


@pytest.fixture(scope="module")
def publisher(keyring: Keyring) -> Key:
    return keyring.generate("publisher")


def test_guide_flow_and_verification_failures(
    api: ApiClient, pusher: Pusher, keyring: Keyring, publisher: Key
) -> None:
    ns = unique("sig")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    v1 = pusher.image(f"{ns}/app", "v1").digest
    v2 = pusher.image(f"{ns}/app", "v2").digest
    unsigned = verification(api, f"{ns}/app", "v1")
    assert (unsigned["Verified"], unsigned["Signatures"]) == (False, [])
    url = unsigned["ResourceUri"]
    assert url.startswith("image://") and url.endswith(f"/default/{ns}/app@{v1}")
    url2 = verification(api, f"{ns}/app", v2)["ResourceUri"]

    mns = unique("meta")
    created = api.ok(
        api.post(
            "/instances/default/metadata/namespaces",
            json={"NamespaceName": mns, "Description": "release signatures"},
        ),
        201,
    )
    assert created["NamespaceName"] == mns and created["Description"] == "release signatures"
    signing = Signing(api, mns)
    note = api.ok(signing.note("image-sign"), 201)
    assert note["name"] == f"/namespaces/{mns}/notes/image-sign"
    assert note["Attestation"] == {"Hint": {"HumanReadableName": "release signer"}}
    error(signing.note("image-sign"), 409, "ALREADY_EXISTS")

    data = base64.b64encode(keyring.export(publisher).encode()).decode()
    key = api.ok(api.post(signing.path + "/public-keys", json={"publicKeyData": data}), 201)
    assert (key["Fingerprint"], key["UserId"]) == (publisher.fingerprint, publisher.user_id)
    assert key["ExpirationTime"] is not None
    listed_keys = api.ok(api.get(signing.path + "/public-keys"))
    assert [k["Fingerprint"] for k in listed_keys] == [publisher.fingerprint]

    signature = keyring.sign(publisher, url)
    occ = api.ok(
        signing.occurrence("sig-v1", "image-sign", url, signature, publisher.fingerprint), 201
    )
    assert occ["Name"] == f"/namespaces/{mns}/occurrences/sig-v1"
    assert occ["NoteName"] == f"/namespaces/{mns}/notes/image-sign"
    assert occ["Attestation"]["Signatures"][0]["PublicKeyId"] == publisher.fingerprint

    by_note = signing.occurrences(NoteName="image-sign")
    assert [o["Name"].rsplit("/", 1)[1] for o in by_note["Occurrences"]] == ["sig-v1"]
    by_path = signing.occurrences(NoteName=f"/namespaces/{mns}/notes/image-sign")
    assert by_path["TotalCount"] == 1
    by_uri = signing.occurrences(ResourceURIs=json.dumps([url]), PageNo="1", PageSize="10")
    assert (by_uri["TotalCount"], by_uri["PageNo"], by_uri["PageSize"]) == (1, 1, 10)
    assert signing.occurrences(ResourceURIs=json.dumps([url2]))["TotalCount"] == 0

    verified = verification(api, f"{ns}/app", "v1")
    assert verified["Verified"] is True
    [check] = verified["Signatures"]
    assert check["Valid"] is True and check["Reason"] is None
    assert (check["Signer"], check["UserId"]) == (publisher.fingerprint, publisher.user_id)
    assert (check["Note"], check["MetadataNamespace"]) == ("image-sign", mns)
    assert verification(api, f"{ns}/app", v1)["Verified"] is True
    assert verification(api, f"{ns}/app", "v2")["Verified"] is False

    # Each way a signature over v2 fails, one occurrence each.
    stranger = keyring.generate(unique("stranger"))
    expired = keyring.generate(unique("expired"), expire="1d", at="20200101T000000")
    api.ok(
        api.post(signing.path + "/public-keys", json={"PublicKey": keyring.export(expired)}), 201
    )
    revoked = keyring.generate(unique("revoked"))
    signed_before_revocation = keyring.sign(revoked, url2)
    keyring.revoke(revoked)
    api.ok(
        api.post(signing.path + "/public-keys", json={"PublicKey": keyring.export(revoked)}), 201
    )
    api.ok(signing.note("old-note", EXPIRED), 201)  # accepted, though expired
    good = keyring.sign(publisher, url2)
    lines = good.splitlines()
    body_line = next(i for i, line in enumerate(lines) if line and i > 2 and len(line) > 20)
    lines[body_line] = (
        lines[body_line][:10]
        + ("A" if lines[body_line][10] != "A" else "B")
        + lines[body_line][11:]
    )
    tampered = "\n".join(lines) + "\n"
    cases = {
        "unknown": ("image-sign", keyring.sign(stranger, url2), stranger, "unknown key"),
        "other": (
            "image-sign",
            keyring.sign(publisher, url),
            publisher,
            "signed text is another image's URL",
        ),
        "tampered": ("image-sign", tampered, publisher, "bad signature"),
        "expired": (
            "image-sign",
            keyring.sign(expired, url2, at="20200101T010000"),
            expired,
            "expired key",
        ),
        "revoked": ("image-sign", signed_before_revocation, revoked, "revoked key"),
        "old-note": ("old-note", good, publisher, "note expired"),
    }
    for name, (note_name, sig, signer, _reason) in cases.items():
        api.ok(signing.occurrence(name, note_name, url2, sig, signer.fingerprint), 201)
    checks = {c["Occurrence"]: c for c in verification(api, f"{ns}/app", "v2")["Signatures"]}
    assert {name: checks[name]["Reason"] for name in cases} == {
        name: reason for name, (_n, _s, _k, reason) in cases.items()
    }
    assert not any(c["Valid"] for c in checks.values())

    # A valid one admits v2; the failures stay listed beside it.
    api.ok(signing.occurrence("good", "image-sign", url2, good, publisher.fingerprint), 201)
    v2_checks = verification(api, f"{ns}/app", "v2")
    assert v2_checks["Verified"] is True and len(v2_checks["Signatures"]) == len(cases) + 1

    # Not empty: the namespace stays; a note with occurrences stays.
    error(api.delete(signing.path), 409, "CONFLICT")
    error(api.delete(signing.path + "/notes/image-sign"), 409, "CONFLICT")
    error(api.delete(f"{signing.path}/public-keys/{stranger.fingerprint}"), 404, "NOT_FOUND")
    api.ok(api.delete(f"{signing.path}/public-keys/{expired.fingerprint}"), 204)
    assert len(api.ok(api.get(signing.path + "/public-keys"))) == 2


def test_bad_input_names_the_field_and_writes_nothing(
    api: ApiClient, pusher: Pusher, keyring: Keyring, publisher: Key, registry: DockyardServer
) -> None:
    ns = unique("sigbad")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    digest = pusher.image(f"{ns}/app", "v1").digest
    url = verification(api, f"{ns}/app", "v1")["ResourceUri"]
    mns = unique("metabad")
    api.ok(api.post("/instances/default/metadata/namespaces", json={"NamespaceName": mns}), 201)
    bad_name = {"NamespaceName": "-bad name"}
    body = error(
        api.post("/instances/default/metadata/namespaces", json=bad_name), 400, "INVALID_INPUT"
    )
    assert "NamespaceName" in body["message"]
    signing = Signing(api, mns)
    api.ok(signing.note("image-sign"), 201)
    sig = keyring.sign(publisher, url)
    fpr = publisher.fingerprint

    def refused(resp: httpx.Response, status: int, code: str, field: str) -> None:
        assert field in error(resp, status, code)["message"]

    refused(
        signing.occurrence("a", "image-sign", "docker://x/y", sig, fpr),
        400,
        "INVALID_INPUT",
        "ResourceUri",
    )
    wrong_instance = url.replace("/default/", "/cri-elsewhere/")
    refused(
        signing.occurrence("a", "image-sign", wrong_instance, sig, fpr),
        400,
        "INVALID_INPUT",
        "ResourceUri",
    )
    absent = url.replace(digest, "sha256:" + "0" * 64)
    refused(
        signing.occurrence("a", "image-sign", absent, sig, fpr), 400, "INVALID_INPUT", "ResourceUri"
    )
    refused(signing.occurrence("a", "nope", url, sig, fpr), 404, "NOT_FOUND", "NoteName")
    other_ns_note = f"/namespaces/{unique('x')}/notes/image-sign"
    refused(signing.occurrence("a", other_ns_note, url, sig, fpr), 400, "INVALID_INPUT", "NoteName")
    refused(
        signing.occurrence("a", "image-sign", url, "not armored", fpr),
        400,
        "INVALID_INPUT",
        "Signature",
    )
    oversize = "-----BEGIN PGP MESSAGE-----\n" + "A" * 20_000
    refused(
        signing.occurrence("a", "image-sign", url, oversize, fpr), 400, "INVALID_INPUT", "Signature"
    )
    refused(
        signing.occurrence("a", "image-sign", url, sig, "xyz"), 400, "INVALID_INPUT", "PublicKeyId"
    )
    mismatch = {
        "OccurrenceName": "a",
        "Occurrence": occurrence_json(mns, "b", "image-sign", url, sig, fpr),
    }
    refused(
        api.post(signing.path + "/occurrences", json=mismatch),
        400,
        "INVALID_INPUT",
        "Occurrence.Name",
    )
    no_uri = {
        "OccurrenceName": "a",
        "Occurrence": {"NoteName": "image-sign", "Attestation": {"Signatures": []}},
    }
    refused(
        api.post(signing.path + "/occurrences", json=no_uri),
        422,
        "VALIDATION_FAILED",
        "ResourceUri",
    )
    wrong_kind = {"NoteName": "n2", "Note": {**note_json(mns, "n2"), "Kind": "VULNERABILITY"}}
    refused(api.post(signing.path + "/notes", json=wrong_kind), 400, "INVALID_INPUT", "Kind")
    bad_time = {"NoteName": "n2", "Note": {**note_json(mns, "n2"), "ExpirationTime": "tomorrow"}}
    refused(
        api.post(signing.path + "/notes", json=bad_time), 422, "VALIDATION_FAILED", "ExpirationTime"
    )
    other_path = {"NoteName": "n2", "Note": note_json(mns, "n3")}
    refused(api.post(signing.path + "/notes", json=other_path), 400, "INVALID_INPUT", "name")
    non_utf8 = b'{"NoteName": "n2", "Note": {"ShortDescription": "\xff\xfe"}}'
    resp = api.post(
        signing.path + "/notes", content=non_utf8, headers={"Content-Type": "application/json"}
    )
    error(resp, 400, "INVALID_INPUT")
    refused(
        api.get(signing.path + "/occurrences", params={"ResourceURIs": "not json"}),
        400,
        "INVALID_INPUT",
        "ResourceURIs",
    )
    not_a_key = {"publicKeyData": base64.b64encode(b"hello").decode()}
    refused(
        api.post(signing.path + "/public-keys", json=not_a_key), 400, "INVALID_INPUT", "PublicKey"
    )
    refused(
        api.post(signing.path + "/public-keys", json={"publicKeyData": "%%%"}),
        400,
        "INVALID_INPUT",
        "publicKeyData",
    )

    # Nothing half-written: no occurrence, one note, no key.
    assert signing.occurrences()["TotalCount"] == 0
    assert api.ok(api.get(signing.path + "/notes"))["total"] == 1
    assert api.ok(api.get(signing.path + "/public-keys")) == []
    # Empty again: it may go; its creation and deletion are audited.
    api.ok(api.delete(signing.path + "/notes/image-sign"), 204)
    api.ok(api.delete(signing.path), 204)
    error(api.get(signing.path), 404, "NOT_FOUND")
    audited = api.ok(
        api.get("/audit-events", params={"pageSize": 100, "action": "cr:CreateMetadataNote"})
    )
    assert any(e["detail"].get("namespace") == mns for e in audited["items"])
    deleted = api.ok(
        api.get("/audit-events", params={"pageSize": 100, "action": "cr:DeleteMetadataNamespace"})
    )
    assert [
        e["resource"].rsplit(":", 1)[1] for e in deleted["items"] if e["detail"]["namespace"] == mns
    ] == [f"metadata/{mns}"]


@pytest.fixture
def reader(registry: DockyardServer) -> Iterator[httpx.Client]:
    """A user of the built-in read-only policy (every cr:List*, cr:Get*)."""
    name, password = unique("sigreader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=(name, password)) as client:
        yield client


def test_reader_lists_but_cannot_write(api: ApiClient, reader: httpx.Client) -> None:
    mns = unique("metaread")
    api.ok(api.post("/instances/default/metadata/namespaces", json={"NamespaceName": mns}), 201)
    path = f"/instances/default/metadata/namespaces/{mns}"
    assert reader.get(path + "/occurrences").status_code == 200
    assert reader.get(path + "/public-keys").status_code == 200
    error_body = reader.post(path + "/notes", json={"NoteName": "n", "Note": {}})
    assert error_body.status_code == 403 and "cr:CreateMetadataNote" in error_body.text
    assert reader.delete(path).status_code == 403
