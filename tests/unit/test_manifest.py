"""dockyard.oci.manifest.parse_manifest: what is accepted, and why the rest is refused."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from dockyard.errors import InvalidInputError
from dockyard.oci import mediatypes as mt
from dockyard.oci.manifest import (
    MAX_MANIFEST_BYTES,
    Descriptor,
    ManifestInvalidError,
    ManifestKind,
    ManifestUnsupportedError,
    parse_manifest,
    stored_kind,
)

pytestmark = pytest.mark.unit


def dgst(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def desc(media_type: str, seed: str, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": dgst(seed), "size": size, **extra}


CONFIG = desc(mt.OCI_IMAGE_CONFIG, "config", 100)
LAYER = desc("application/vnd.oci.image.layer.v1.tar+gzip", "layer", 1000)
EMPTY = {"mediaType": mt.OCI_EMPTY, "digest": dgst("{}"), "size": 2}


def oci_manifest(**over: Any) -> dict[str, Any]:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG, "layers": [LAYER]}
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def oci_index(**over: Any) -> dict[str, Any]:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            desc(mt.OCI_MANIFEST, "amd64", 500, platform={"architecture": "amd64", "os": "linux"}),
            desc(mt.OCI_MANIFEST, "arm64", 501, platform={"architecture": "arm64", "os": "linux"}),
        ],
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# -- accepted -------------------------------------------------------------------------------


def test_oci_image_manifest():
    m = parse_manifest(raw(oci_manifest(annotations={"a": "b"})), mt.OCI_MANIFEST)
    assert m.media_type == mt.OCI_MANIFEST
    assert not m.is_index
    assert m.config == Descriptor(mt.OCI_IMAGE_CONFIG, dgst("config"), 100)
    assert m.layers == (Descriptor(LAYER["mediaType"], dgst("layer"), 1000),)
    assert m.children == ()
    assert m.subject is None
    assert m.artifact_type is None
    assert m.annotations == {"a": "b"}
    # A plain image reports its config media type to the referrers API.
    assert m.referrer_artifact_type == mt.OCI_IMAGE_CONFIG


def test_oci_index():
    m = parse_manifest(raw(oci_index()), mt.OCI_INDEX)
    assert m.media_type == mt.OCI_INDEX
    assert m.is_index
    assert m.config is None
    assert m.layers == ()
    assert [c.digest for c in m.children] == [dgst("amd64"), dgst("arm64")]
    assert m.children[0].platform == {"architecture": "amd64", "os": "linux"}
    assert m.referrer_artifact_type is None


def test_docker_schema2_manifest():
    doc = oci_manifest(
        mediaType=mt.DOCKER_MANIFEST,
        config=desc(mt.DOCKER_IMAGE_CONFIG, "dconfig"),
        layers=[desc("application/vnd.docker.image.rootfs.diff.tar.gzip", "dlayer")],
    )
    m = parse_manifest(raw(doc), mt.DOCKER_MANIFEST)
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.config is not None and m.config.media_type == mt.DOCKER_IMAGE_CONFIG
    assert len(m.layers) == 1


def test_docker_manifest_list():
    doc = oci_index(
        mediaType=mt.DOCKER_MANIFEST_LIST,
        manifests=[desc(mt.DOCKER_MANIFEST, "child", platform={"architecture": "amd64"})],
    )
    m = parse_manifest(raw(doc), mt.DOCKER_MANIFEST_LIST)
    assert m.media_type == mt.DOCKER_MANIFEST_LIST
    assert m.is_index
    assert m.children[0].media_type == mt.DOCKER_MANIFEST


def test_artifact_with_artifact_type_and_subject():
    subject = desc(mt.OCI_MANIFEST, "subject", 321)
    doc = oci_manifest(
        artifactType="application/vnd.example.sbom.v1+json",
        config=EMPTY,
        layers=[desc("application/spdx+json", "sbom", 77, annotations={"k": "v"})],
        subject=subject,
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    )
    m = parse_manifest(raw(doc), mt.OCI_MANIFEST)
    assert m.artifact_type == "application/vnd.example.sbom.v1+json"
    assert m.referrer_artifact_type == "application/vnd.example.sbom.v1+json"
    assert m.subject == Descriptor(mt.OCI_MANIFEST, dgst("subject"), 321)
    assert m.layers[0].annotations == {"k": "v"}
    assert m.config == Descriptor(mt.OCI_EMPTY, dgst("{}"), 2)


def test_artifact_with_custom_config_reports_config_type():
    helm = "application/vnd.cncf.helm.config.v1+json"
    m = parse_manifest(raw(oci_manifest(config=desc(helm, "chart"), layers=[])), mt.OCI_MANIFEST)
    assert m.artifact_type is None
    assert m.referrer_artifact_type == helm
    assert m.layers == ()


def test_index_with_artifact_type_and_subject():
    doc = oci_index(artifactType="application/vnd.example.bundle", subject=desc(mt.OCI_INDEX, "s"))
    m = parse_manifest(raw(doc), None)
    assert m.is_index
    assert m.artifact_type == "application/vnd.example.bundle"
    assert m.subject is not None and m.subject.digest == dgst("s")


def test_layers_may_be_absent_and_fields_unknown_to_us_are_ignored():
    doc = oci_manifest(layers=None, futureField={"x": 1})
    assert parse_manifest(raw(doc), mt.OCI_MANIFEST).layers == ()


@pytest.mark.parametrize(
    ("doc", "content_type", "expected"),
    [
        # mediaType in the body wins over a non-manifest Content-Type.
        (oci_manifest(), "application/json", mt.OCI_MANIFEST),
        (oci_manifest(), None, mt.OCI_MANIFEST),
        # No mediaType in the body: the Content-Type says what it is.
        (oci_manifest(mediaType=None), mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        (oci_manifest(mediaType=None), mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
        (oci_index(mediaType=None), mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
        # Content-Type is compared without parameters and case.
        (
            oci_manifest(),
            "Application/VND.OCI.Image.Manifest.v1+JSON; charset=utf-8",
            mt.OCI_MANIFEST,
        ),
        (oci_manifest(mediaType=None), f" {mt.OCI_MANIFEST} ;q=1", mt.OCI_MANIFEST),
        # Nothing anywhere: inferred from the shape.
        (oci_manifest(mediaType=None), None, mt.OCI_MANIFEST),
        (oci_index(mediaType=None), None, mt.OCI_INDEX),
        (oci_index(mediaType=None), "application/octet-stream", mt.OCI_INDEX),
    ],
)
def test_media_type_resolution(doc, content_type, expected):
    assert parse_manifest(raw(doc), content_type).media_type == expected


def test_size_limit_is_inclusive():
    doc = oci_manifest()
    body = raw(doc)
    padded = body[:-1] + b" " * (MAX_MANIFEST_BYTES - len(body)) + b"}"
    assert len(padded) == MAX_MANIFEST_BYTES
    assert parse_manifest(padded, mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


def test_descriptor_to_json_round_trip():
    full = desc(
        mt.OCI_MANIFEST,
        "x",
        5,
        platform={"os": "linux"},
        artifactType="application/x",
        annotations={"a": "b"},
    )
    m = parse_manifest(raw(oci_index(manifests=[full])), None)
    assert m.children[0].to_json() == full
    assert Descriptor("t", dgst("y"), 1).to_json() == {
        "mediaType": "t",
        "digest": dgst("y"),
        "size": 1,
    }


# -- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (raw({"schemaVersion": 1, "name": "ns/app", "tag": "v1", "fsLayers": []}), None),
        (raw({"schemaVersion": 1, "name": "ns/app"}), mt.OCI_MANIFEST),
        (raw(oci_manifest(mediaType=None)), mt.DOCKER_SCHEMA1),
        (raw(oci_manifest(mediaType=None)), mt.DOCKER_SCHEMA1_SIGNED),
        (raw(oci_manifest(mediaType=mt.DOCKER_SCHEMA1)), None),
        (raw(oci_manifest(mediaType=mt.DOCKER_SCHEMA1_SIGNED)), "application/json"),
    ],
)
def test_schema1_is_unsupported(body, content_type):
    with pytest.raises(ManifestUnsupportedError) as info:
        parse_manifest(body, content_type)
    assert "schema 1" in info.value.message
    assert "schema 2 or OCI" in info.value.message  # tells the client what to do instead


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        # not JSON / not an object / too big
        (b"", mt.OCI_MANIFEST, "not valid JSON"),
        (b"{", mt.OCI_MANIFEST, "not valid JSON"),
        (b"{'single': 'quotes'}", mt.OCI_MANIFEST, "not valid JSON"),
        (b"\xff\xfe{}", mt.OCI_MANIFEST, "not valid JSON"),
        (b"[]", mt.OCI_MANIFEST, "must be a JSON object"),
        (b'"manifest"', mt.OCI_MANIFEST, "must be a JSON object"),
        (b"2", mt.OCI_MANIFEST, "must be a JSON object"),
        (b"null", mt.OCI_MANIFEST, "must be a JSON object"),
        (b" " * (MAX_MANIFEST_BYTES + 1), mt.OCI_MANIFEST, "exceeds"),
        (raw(oci_manifest()) + b" " * MAX_MANIFEST_BYTES, mt.OCI_MANIFEST, "exceeds"),
        # schemaVersion
        (raw(oci_manifest(schemaVersion=None)), mt.OCI_MANIFEST, "schemaVersion must be 2"),
        (raw(oci_manifest(schemaVersion=3)), mt.OCI_MANIFEST, "schemaVersion must be 2"),
        (raw(oci_manifest(schemaVersion="2")), mt.OCI_MANIFEST, "schemaVersion must be 2"),
        # mediaType
        (raw(oci_manifest(mediaType=7)), mt.OCI_MANIFEST, "mediaType must be a string"),
        (raw(oci_manifest()), mt.OCI_INDEX, "does not match Content-Type"),
        (raw(oci_index()), mt.OCI_MANIFEST, "does not match Content-Type"),
        (raw(oci_manifest()), mt.DOCKER_MANIFEST, "does not match Content-Type"),
        (raw(oci_manifest(mediaType="application/x-custom")), mt.OCI_MANIFEST, "does not match"),
        (
            raw(oci_manifest(mediaType="application/x-custom")),
            None,
            "unsupported manifest mediaType",
        ),
        (raw(oci_manifest(mediaType=mt.OCI_IMAGE_CONFIG)), None, "unsupported manifest mediaType"),
        # config
        (raw(oci_manifest(config=None)), mt.OCI_MANIFEST, "needs a config descriptor"),
        (raw({**oci_manifest(), "config": None}), mt.OCI_MANIFEST, "config: descriptor must be"),
        (raw(oci_manifest(config="sha256:abc")), mt.OCI_MANIFEST, "config: descriptor must be"),
        (raw(oci_manifest(config={})), mt.OCI_MANIFEST, "config: mediaType must be"),
        # layers / manifests lists
        (raw(oci_manifest(layers={})), mt.OCI_MANIFEST, "layers must be a list"),
        (raw({**oci_manifest(), "layers": None}), mt.OCI_MANIFEST, "layers must be a list"),
        (raw(oci_index(manifests=None)), mt.OCI_INDEX, "manifests must be a list"),
        (raw(oci_index(manifests="x")), mt.OCI_INDEX, "manifests must be a list"),
        (raw(oci_index(manifests=[1])), mt.OCI_INDEX, "manifests[0]: descriptor must be"),
        # subject / artifactType / annotations
        (raw(oci_manifest(subject="sha256:x")), mt.OCI_MANIFEST, "subject: descriptor must be"),
        (raw(oci_manifest(subject={"mediaType": mt.OCI_MANIFEST})), None, "subject: digest must"),
        (raw(oci_manifest(artifactType=5)), mt.OCI_MANIFEST, "artifactType must be a string"),
        (raw(oci_manifest(annotations=["a"])), mt.OCI_MANIFEST, "annotations must map"),
        (raw(oci_manifest(annotations={"a": 1})), mt.OCI_MANIFEST, "annotations must map"),
        (raw(oci_index(annotations={"a": None})), mt.OCI_INDEX, "annotations must map"),
        # Docker schema 2 has no artifactType
        (
            raw(oci_manifest(mediaType=mt.DOCKER_MANIFEST, artifactType="application/x")),
            mt.DOCKER_MANIFEST,
            "cannot carry artifactType",
        ),
    ],
)
def test_invalid_manifests(body, content_type, message):
    with pytest.raises(ManifestInvalidError) as info:
        parse_manifest(body, content_type)
    assert message in info.value.message
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        ("not-an-object", "descriptor must be an object"),
        ([], "descriptor must be an object"),
        ({"digest": dgst("a"), "size": 1}, "mediaType must be a non-empty string"),
        ({**LAYER, "mediaType": ""}, "mediaType must be a non-empty string"),
        ({**LAYER, "mediaType": 3}, "mediaType must be a non-empty string"),
        ({"mediaType": "t", "size": 1}, "digest must be a string"),
        ({**LAYER, "digest": 12}, "digest must be a string"),
        ({**LAYER, "digest": "sha256:short"}, "invalid sha256 digest"),
        ({**LAYER, "digest": "md5:" + "0" * 32}, "unsupported digest algorithm"),
        ({**LAYER, "digest": "nonsense"}, "invalid digest"),
        ({"mediaType": "t", "digest": dgst("a")}, "size must be a non-negative integer"),
        ({**LAYER, "size": -1}, "size must be a non-negative integer"),
        ({**LAYER, "size": 1.5}, "size must be a non-negative integer"),
        ({**LAYER, "size": "10"}, "size must be a non-negative integer"),
        ({**LAYER, "size": True}, "size must be a non-negative integer"),
        ({**LAYER, "platform": "linux/amd64"}, "platform must be an object"),
        ({**LAYER, "artifactType": ["x"]}, "artifactType must be a string"),
        ({**LAYER, "annotations": {"k": ["v"]}}, "annotations must map"),
    ],
)
@pytest.mark.parametrize("where", ["layers", "manifests"])
def test_bad_descriptors(descriptor, message, where):
    if where == "layers":
        doc, ct, prefix = oci_manifest(layers=[LAYER, descriptor]), mt.OCI_MANIFEST, "layers[1]: "
    else:
        doc, ct, prefix = oci_index(manifests=[descriptor]), mt.OCI_INDEX, "manifests[0]: "
    with pytest.raises(ManifestInvalidError) as info:
        parse_manifest(raw(doc), ct)
    assert info.value.message.startswith(prefix)
    assert message in info.value.message


def test_zero_size_descriptor_is_fine():
    m = parse_manifest(raw(oci_manifest(layers=[{**LAYER, "size": 0}])), mt.OCI_MANIFEST)
    assert m.layers[0].size == 0


# -- kinds for the edition rule on OCI artifacts --------------------------------------------

HELM_CONFIG = desc("application/vnd.cncf.helm.config.v1+json", "chart-config", 100)
SUBJECT = desc(mt.OCI_MANIFEST, "subject", 500)


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        (oci_manifest(), ManifestKind.IMAGE),
        (
            {
                "schemaVersion": 2,
                "mediaType": mt.DOCKER_MANIFEST,
                "config": desc(mt.DOCKER_IMAGE_CONFIG, "dc", 100),
                "layers": [LAYER],
            },
            ManifestKind.IMAGE,
        ),
        (oci_index(), ManifestKind.INDEX),
        (oci_manifest(config=HELM_CONFIG), ManifestKind.ARTIFACT),  # a Helm chart
        (oci_manifest(artifactType="application/vnd.example+json"), ManifestKind.ARTIFACT),
        (oci_index(artifactType="application/vnd.example+json"), ManifestKind.ARTIFACT),
        (
            oci_manifest(config=EMPTY, artifactType="application/spdx+json", subject=SUBJECT),
            ManifestKind.ARTIFACT,
        ),
        (
            oci_manifest(config=EMPTY, artifactType=mt.NOTATION_SIGNATURE, subject=SUBJECT),
            ManifestKind.SIGNATURE,
        ),
        (
            oci_manifest(config=EMPTY, artifactType=mt.COSIGN_SIGNATURE, subject=SUBJECT),
            ManifestKind.SIGNATURE,
        ),
        (  # cosign's OCI 1.1 form without artifactType: the config carries the type
            oci_manifest(config=desc(mt.COSIGN_SIGNATURE, "sig-config", 2), subject=SUBJECT),
            ManifestKind.SIGNATURE,
        ),
    ],
)
def test_manifest_kinds(doc, kind):
    parsed = parse_manifest(raw(doc), None)
    assert parsed.kind is kind
    if kind is not ManifestKind.ARTIFACT or parsed.artifact_type is None:
        # What the store keeps (media type, referrer type) gives the same answer.
        assert stored_kind(parsed.media_type, parsed.referrer_artifact_type) is kind


def test_stored_kinds():
    assert stored_kind(mt.OCI_MANIFEST, mt.OCI_IMAGE_CONFIG) is ManifestKind.IMAGE
    assert stored_kind(mt.DOCKER_MANIFEST, mt.DOCKER_IMAGE_CONFIG) is ManifestKind.IMAGE
    assert stored_kind(mt.OCI_INDEX, None) is ManifestKind.INDEX
    assert stored_kind(mt.OCI_INDEX, "application/vnd.example") is ManifestKind.ARTIFACT
    assert stored_kind(mt.OCI_MANIFEST, "application/vnd.cncf.helm.config.v1+json") is (
        ManifestKind.ARTIFACT
    )
    assert stored_kind(mt.OCI_MANIFEST, mt.NOTATION_SIGNATURE) is ManifestKind.SIGNATURE
