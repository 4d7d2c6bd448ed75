"""The referrers API, following the conformance suite's "listing references" setup."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from tests.e2e.regclient import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_EMPTY_JSON,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryClient,
    describe,
    digest_of,
    expect,
    random_bytes,
)

pytestmark = pytest.mark.e2e

TYPE_A = "application/vnd.nhl.peanut.butter.bagel"
TYPE_B = "application/vnd.nba.strawberry.jam.croissant"
TYPE_INDEX = "application/vnd.food.stand"
ANNOTATION = "org.opencontainers.conformance.test"
BLOB_A = b"NHL Peanut Butter on my NHL bagel"
BLOB_B = b"NBA Strawberry Jam on my NBA croissant"
EMPTY_DESC = {"mediaType": OCI_EMPTY_JSON, "digest": EMPTY_JSON_DIGEST, "size": 2}


def _indent(obj: dict) -> bytes:
    return json.dumps(obj, indent="\t").encode()


def _subject(body: bytes) -> dict:
    return {"mediaType": OCI_MANIFEST, "digest": digest_of(body), "size": len(body)}


def config_artifact(art_type: str, blob: bytes, subject: bytes, note: str) -> bytes:
    """Artifact whose type is given by config.mediaType."""
    return _indent(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": art_type, "digest": digest_of(blob), "size": len(blob)},
            "layers": [EMPTY_DESC],
            "subject": _subject(subject),
            "annotations": {ANNOTATION: note},
        }
    )


def layer_artifact(art_type: str, blob: bytes, subject: bytes, note: str | None) -> bytes:
    """Artifact with artifactType and the empty config."""
    m = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": art_type,
        "config": EMPTY_DESC,
        "layers": [{"mediaType": art_type, "digest": digest_of(blob), "size": len(blob)}],
        "subject": _subject(subject),
    }
    if note is not None:
        m["annotations"] = {ANNOTATION: note}
    return _indent(m)


@dataclass
class Referrers:
    name: str
    subject: bytes  # pushed, tagged "tagtest0"
    missing_subject: bytes  # never pushed
    notes: dict[str, str]  # referrer digest -> annotation
    types: dict[str, str]  # referrer digest -> artifactType
    index_digest: str
    c_digest: str


@pytest.fixture(scope="module")
def refs(client: RegistryClient) -> Referrers:
    import secrets

    name = f"refs-{secrets.token_hex(4)}/conformance"
    config = _indent(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "author": secrets.token_hex(8),
        }
    )
    layer = random_bytes(128)
    subject = _indent(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    )
    missing_config = _indent({"architecture": "arm64", "author": secrets.token_hex(8)})
    missing_subject = _indent(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(missing_config),
                "size": len(missing_config),
            },
            "layers": [],
        }
    )
    notes: dict[str, str] = {}
    types: dict[str, str] = {}

    def put(body: bytes, media_type: str, expected_subject: bytes) -> str:
        d = digest_of(body)
        resp = expect(client.put_manifest(name, d, body, media_type), 201)
        assert resp.headers.get("oci-subject") == digest_of(expected_subject), describe(resp)
        return d

    # Referrers pushed BEFORE their subject exists.
    assert client.push_blob(name, EMPTY_JSON) == EMPTY_JSON_DIGEST
    client.push_blob(name, BLOB_A)
    a_cfg = config_artifact(TYPE_A, BLOB_A, subject, "test config a")
    a_lay = layer_artifact(TYPE_A, BLOB_A, subject, "test layer a")
    for body, note in ((a_cfg, "test config a"), (a_lay, "test layer a")):
        notes[put(body, OCI_MANIFEST, subject)] = note
        types[digest_of(body)] = TYPE_A
    index = _indent(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": TYPE_INDEX,
            "manifests": [_subject(a_cfg), _subject(a_lay)],
            "subject": _subject(subject),
            "annotations": {ANNOTATION: "test index"},
        }
    )
    index_digest = put(index, OCI_INDEX, subject)
    notes[index_digest] = "test index"
    types[index_digest] = TYPE_INDEX

    # Now the subject itself.
    client.push_blob(name, config)
    client.push_blob(name, layer)
    expect(client.put_manifest(name, "tagtest0", subject), 201)

    # Referrers pushed AFTER the subject.
    client.push_blob(name, BLOB_B)
    b_cfg = config_artifact(TYPE_B, BLOB_B, subject, "test config b")
    b_lay = layer_artifact(TYPE_B, BLOB_B, subject, "test layer b")
    for body, note in ((b_cfg, "test config b"), (b_lay, "test layer b")):
        notes[put(body, OCI_MANIFEST, subject)] = note
        types[digest_of(body)] = TYPE_B

    # A referrer to a subject that is never pushed.
    c_lay = layer_artifact(TYPE_B, BLOB_B, missing_subject, None)
    c_digest = put(c_lay, OCI_MANIFEST, missing_subject)
    return Referrers(name, subject, missing_subject, notes, types, index_digest, c_digest)


def _index(resp) -> dict:
    expect(resp, 200)
    assert resp.headers.get("content-type") == OCI_INDEX, describe(resp)
    body = resp.json()
    assert body.get("schemaVersion") == 2, body
    assert body.get("mediaType") == OCI_INDEX, body
    assert isinstance(body.get("manifests"), list), body
    return body


def test_referrers_of_unknown_digest_is_empty_index(
    client: RegistryClient, refs: Referrers
) -> None:
    body = _index(client.referrers(refs.name, digest_of(b"hello world")))
    assert body["manifests"] == []


def test_referrers_lists_all_with_descriptors(client: RegistryClient, refs: Referrers) -> None:
    body = _index(client.referrers(refs.name, digest_of(refs.subject)))
    got = {m["digest"]: m for m in body["manifests"]}
    assert len(body["manifests"]) == 5 == len(got), body
    assert set(got) == set(refs.notes)
    for d, desc in got.items():
        assert desc["annotations"] == {ANNOTATION: refs.notes[d]}, desc
        assert desc["artifactType"] == refs.types[d], desc
        expected_mt = OCI_INDEX if d == refs.index_digest else OCI_MANIFEST
        assert desc["mediaType"] == expected_mt, desc
        stored = expect(client.get_manifest(refs.name, d), 200).content
        assert desc["size"] == len(stored), desc


def test_referrers_artifact_type_filter(client: RegistryClient, refs: Referrers) -> None:
    resp = client.referrers(refs.name, digest_of(refs.subject), artifact_type=TYPE_A)
    body = _index(resp)
    assert resp.headers.get("oci-filters-applied") == "artifactType", describe(resp)
    assert len(body["manifests"]) == 2, body
    for desc in body["manifests"]:
        assert desc["artifactType"] == TYPE_A
        assert desc["annotations"][ANNOTATION] == refs.notes[desc["digest"]]
    resp = client.referrers(refs.name, digest_of(refs.subject), artifact_type=TYPE_INDEX)
    body = _index(resp)
    assert [m["digest"] for m in body["manifests"]] == [refs.index_digest]
    resp = client.referrers(refs.name, digest_of(refs.subject), artifact_type="application/none")
    assert _index(resp)["manifests"] == []
    assert resp.headers.get("oci-filters-applied") == "artifactType"


def test_referrers_without_filter_has_no_filter_header(
    client: RegistryClient, refs: Referrers
) -> None:
    resp = client.referrers(refs.name, digest_of(refs.subject))
    _index(resp)
    assert "oci-filters-applied" not in resp.headers, describe(resp)


def test_referrers_of_missing_subject(client: RegistryClient, refs: Referrers) -> None:
    body = _index(client.referrers(refs.name, digest_of(refs.missing_subject)))
    assert [m["digest"] for m in body["manifests"]] == [refs.c_digest]
    assert body["manifests"][0]["artifactType"] == TYPE_B
    expect(client.get_manifest(refs.name, digest_of(refs.missing_subject)), 404, "MANIFEST_UNKNOWN")


def test_subject_pushed_after_its_referrer(client: RegistryClient, repo: str) -> None:
    """The referrer is visible before and after its subject is pushed."""
    client.push_blob(repo, EMPTY_JSON)
    sig = random_bytes(64)
    client.push_blob(repo, sig)
    cfg = random_bytes(32)
    client.push_blob(repo, cfg)
    subject = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(cfg),
                "size": len(cfg),
            },
            "layers": [],
        }
    ).encode()
    referrer = layer_artifact("application/vnd.example.sig", sig, subject, "sig")
    resp = expect(client.put_manifest(repo, digest_of(referrer), referrer), 201)
    assert resp.headers.get("oci-subject") == digest_of(subject)
    before = _index(client.referrers(repo, digest_of(subject)))
    assert [m["digest"] for m in before["manifests"]] == [digest_of(referrer)]
    expect(client.put_manifest(repo, "v1", subject), 201)
    after = _index(client.referrers(repo, digest_of(subject)))
    assert [m["digest"] for m in after["manifests"]] == [digest_of(referrer)]


def test_referrers_are_per_repository(client: RegistryClient, refs: Referrers, new_repo) -> None:
    other = new_repo("other")
    client.push_blob(other, b"exists")
    body = _index(client.referrers(other, digest_of(refs.subject)))
    assert body["manifests"] == []


def test_deleting_a_referrer_removes_it_from_the_list(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "v1")
    client.push_blob(repo, EMPTY_JSON)
    blob = random_bytes(10)
    client.push_blob(repo, blob)
    ref = layer_artifact(TYPE_A, blob, img.manifest, "x")
    # layer_artifact's subject descriptor assumes an OCI manifest, which random_image made.
    expect(client.put_manifest(repo, digest_of(ref), ref), 201)
    assert len(_index(client.referrers(repo, img.manifest_digest))["manifests"]) == 1
    expect(client.delete_manifest(repo, digest_of(ref)), 202)
    assert _index(client.referrers(repo, img.manifest_digest))["manifests"] == []


def test_referrers_with_sha512_subject(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, EMPTY_JSON)
    blob = random_bytes(10)
    client.push_blob(repo, blob)
    fake_subject = {"mediaType": OCI_MANIFEST, "digest": digest_of(b"s", "sha512"), "size": 1}
    ref = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": TYPE_B,
            "config": EMPTY_DESC,
            "layers": [{"mediaType": TYPE_B, "digest": digest_of(blob), "size": len(blob)}],
            "subject": fake_subject,
        }
    ).encode()
    resp = expect(client.put_manifest(repo, digest_of(ref), ref), 201)
    assert resp.headers.get("oci-subject") == fake_subject["digest"]
    body = _index(client.referrers(repo, fake_subject["digest"]))
    assert [m["digest"] for m in body["manifests"]] == [digest_of(ref)]


def test_referrers_with_invalid_digest_is_400(client: RegistryClient, refs: Referrers) -> None:
    for bad in ("sha256:nothex", "md5:" + "0" * 32, "latest"):
        expect(client.referrers(refs.name, bad), 400, "DIGEST_INVALID")
