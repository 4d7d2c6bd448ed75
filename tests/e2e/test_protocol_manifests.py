"""Manifests: push/pull by tag and digest, HEAD headers, indexes, validation, deletes."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import json
from urllib.parse import urlsplit

import pytest
from tests.e2e.regclient import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    RegistryClient,
    canonical,
    describe,
    descriptor,
    digest_of,
    expect,
    make_index,
    make_manifest,
    random_bytes,
)

pytestmark = pytest.mark.e2e

# The conformance suite's layer: a tiny tar.gz.
LAYER = base64.b64decode(
    "H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0"
    "WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD"
    "jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA"
)


def conformance_image(client: RegistryClient, name: str, layers: bool = True) -> tuple[bytes, str]:
    """Push the conformance suite's config + layer; return its tab-indented manifest.

    Descriptors carry ``data`` and an unknown ``newUnspecifiedField``: a registry must store
    and serve such manifests byte for byte.
    """
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "author": random_bytes(8).hex(),
        },
        indent="\t",
    ).encode()
    client.push_blob(name, config)
    if layers:
        client.push_blob(name, LAYER)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": digest_of(config),
            "size": len(config),
            "data": base64.b64encode(config).decode(),
            "newUnspecifiedField": base64.b64encode(b"hello world").decode(),
        },
        "layers": [
            {
                "mediaType": OCI_LAYER_GZIP,
                "digest": digest_of(LAYER),
                "size": len(LAYER),
                "newUnspecifiedField": None,
            }
        ]
        if layers
        else [],
    }
    body = json.dumps(manifest, indent="\t").encode()
    return body, digest_of(body)


# -- push & pull ----------------------------------------------------------------------------


def test_put_manifest_by_tag_and_get_it_back(client: RegistryClient, repo: str) -> None:
    body, d = conformance_image(client, repo)
    resp = expect(client.put_manifest(repo, "tagtest0", body), 201)
    assert resp.headers.get("docker-content-digest") == d, describe(resp)
    loc = resp.headers.get("location")
    assert loc and urlsplit(loc).path in (
        f"/v2/{repo}/manifests/{d}",
        f"/v2/{repo}/manifests/tagtest0",
    ), describe(resp)
    for ref in ("tagtest0", d):
        got = expect(client.get_manifest(repo, ref, accept=OCI_MANIFEST), 200)
        assert got.content == body, "manifest must be served byte for byte"
        assert got.headers.get("content-type") == OCI_MANIFEST
        assert got.headers.get("docker-content-digest") == d
        assert got.headers.get("content-length") == str(len(body))


def test_head_manifest_headers(client: RegistryClient, repo: str) -> None:
    body, d = conformance_image(client, repo)
    expect(client.put_manifest(repo, "v1", body), 201)
    for ref in ("v1", d):
        resp = expect(client.head_manifest(repo, ref, accept=OCI_MANIFEST), 200)
        assert resp.headers.get("content-length") == str(len(body)), describe(resp)
        assert resp.headers.get("docker-content-digest") == d, describe(resp)
        assert resp.headers.get("content-type") == OCI_MANIFEST, describe(resp)
        assert resp.content == b""


def test_put_manifest_by_digest(client: RegistryClient, repo: str) -> None:
    body, d = conformance_image(client, repo)
    resp = expect(client.put_manifest(repo, d, body), 201)
    assert resp.headers.get("docker-content-digest") == d
    assert urlsplit(resp.headers["location"]).path == f"/v2/{repo}/manifests/{d}"
    assert expect(client.get_manifest(repo, d), 200).content == body
    # Pushed by digest only: no tag was created.
    tags = client.tags(repo)
    assert tags.status_code == 200 and tags.json()["tags"] in ([], None), describe(tags)


def test_put_manifest_by_digest_mismatch_is_digest_invalid(
    client: RegistryClient, repo: str
) -> None:
    body, d = conformance_image(client, repo)
    wrong = digest_of(body + b" ")
    expect(client.put_manifest(repo, wrong, body), 400, "DIGEST_INVALID")
    expect(client.get_manifest(repo, wrong), 404, "MANIFEST_UNKNOWN")
    expect(client.get_manifest(repo, d), 404, "MANIFEST_UNKNOWN")


def test_put_manifest_by_sha512_digest(client: RegistryClient, repo: str) -> None:
    body, _ = conformance_image(client, repo)
    d512 = digest_of(body, "sha512")
    resp = client.put_manifest(repo, d512, body)
    expect(resp, 201)
    assert resp.headers.get("docker-content-digest") == d512, describe(resp)
    got = expect(client.get_manifest(repo, d512), 200)
    assert got.content == body


def test_same_manifest_under_several_tags(client: RegistryClient, repo: str) -> None:
    body, d = conformance_image(client, repo)
    for i in range(4):
        resp = expect(client.put_manifest(repo, f"test{i}", body), 201)
        assert resp.headers.get("location")
        assert resp.headers.get("docker-content-digest") == d
    tags = expect(client.tags(repo), 200).json()
    assert tags == {"name": repo, "tags": ["test0", "test1", "test2", "test3"]}
    for i in range(4):
        assert expect(client.get_manifest(repo, f"test{i}"), 200).content == body


def test_manifest_with_no_layers(client: RegistryClient, repo: str) -> None:
    body, d = conformance_image(client, repo, layers=False)
    resp = expect(client.put_manifest(repo, "emptylayer", body), 201)
    assert resp.headers.get("docker-content-digest") == d
    assert expect(client.get_manifest(repo, "emptylayer"), 200).content == body


def test_retag_points_tag_at_new_manifest(client: RegistryClient, repo: str) -> None:
    a = client.random_image(repo, "latest")
    b = client.random_image(repo, "latest")
    got = expect(client.get_manifest(repo, "latest"), 200)
    assert got.content == b.manifest
    assert got.headers["docker-content-digest"] == b.manifest_digest
    # The old manifest is still there by digest.
    assert expect(client.get_manifest(repo, a.manifest_digest), 200).content == a.manifest


def test_get_returns_the_stored_content_type(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "docker", media_type=DOCKER_MANIFEST_V2)
    got = expect(client.get_manifest(repo, "docker"), 200)
    assert got.headers.get("content-type") == DOCKER_MANIFEST_V2
    assert got.content == img.manifest
    head = expect(client.head_manifest(repo, img.manifest_digest), 200)
    assert head.headers.get("content-type") == DOCKER_MANIFEST_V2


def test_accept_header_variants(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "v1")
    for accept in (
        OCI_MANIFEST,
        f"{OCI_INDEX}, {OCI_MANIFEST}",
        f"{OCI_MANIFEST};q=0.9, */*;q=0.1",
        "*/*",
    ):
        got = expect(client.get_manifest(repo, "v1", accept=accept), 200)
        assert got.content == img.manifest
        assert got.headers.get("content-type") == OCI_MANIFEST


def test_manifest_without_media_type_field(client: RegistryClient, repo: str) -> None:
    config, layer = random_bytes(50), random_bytes(60)
    client.push_blob(repo, config)
    client.push_blob(repo, layer)
    body = canonical(
        {
            "schemaVersion": 2,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER_GZIP, layer)],
        }
    )
    resp = expect(client.put_manifest(repo, "nomt", body, OCI_MANIFEST), 201)
    got = expect(client.get_manifest(repo, "nomt"), 200)
    assert got.content == body
    assert got.headers.get("content-type") == OCI_MANIFEST
    assert resp.headers["docker-content-digest"] == digest_of(body)


# -- indexes ----------------------------------------------------------------------------------


def test_index_referencing_manifests(client: RegistryClient, repo: str) -> None:
    amd = client.random_image(repo)
    arm = client.random_image(repo)
    index = make_index(
        [
            {**amd.descriptor, "platform": {"architecture": "amd64", "os": "linux"}},
            {**arm.descriptor, "platform": {"architecture": "arm64", "os": "linux"}},
        ]
    )
    resp = expect(client.put_manifest(repo, "multi", index, OCI_INDEX), 201)
    d = digest_of(index)
    assert resp.headers.get("docker-content-digest") == d
    got = expect(client.get_manifest(repo, "multi"), 200)
    assert got.content == index
    assert got.headers.get("content-type") == OCI_INDEX
    head = expect(client.head_manifest(repo, d), 200)
    assert head.headers.get("content-type") == OCI_INDEX
    assert head.headers.get("content-length") == str(len(index))


def test_docker_manifest_list(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, media_type=DOCKER_MANIFEST_V2)
    lst = make_index(
        [{**img.descriptor, "platform": {"architecture": "amd64", "os": "linux"}}],
        media_type=DOCKER_MANIFEST_LIST,
    )
    expect(client.put_manifest(repo, "list", lst, DOCKER_MANIFEST_LIST), 201)
    got = expect(client.get_manifest(repo, "list"), 200)
    assert got.headers.get("content-type") == DOCKER_MANIFEST_LIST
    assert got.content == lst


def test_index_with_missing_child_is_manifest_blob_unknown(
    client: RegistryClient, repo: str
) -> None:
    present = client.random_image(repo)
    ghost = random_bytes(100)
    index = make_index([present.descriptor, descriptor(OCI_MANIFEST, ghost)])
    expect(client.put_manifest(repo, "broken", index, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")
    expect(client.get_manifest(repo, "broken"), 404, "MANIFEST_UNKNOWN")


def test_index_child_from_another_repo_is_manifest_blob_unknown(
    client: RegistryClient, new_repo
) -> None:
    a, b = new_repo("a"), new_repo("b")
    img = client.random_image(a, "v1")
    client.random_image(b, "v1")
    index = make_index([img.descriptor])
    expect(client.put_manifest(b, "idx", index, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")


def test_index_child_that_is_a_blob_not_a_manifest(client: RegistryClient, repo: str) -> None:
    blob = canonical({"not": "a manifest"})
    client.push_blob(repo, blob)
    index = make_index([descriptor(OCI_MANIFEST, blob)])
    expect(client.put_manifest(repo, "idx", index, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")


# -- reference checks ---------------------------------------------------------------------------


def test_missing_layer_is_manifest_blob_unknown(client: RegistryClient, repo: str) -> None:
    config = random_bytes(40)
    client.push_blob(repo, config)
    body = make_manifest(config, [random_bytes(30)])
    expect(client.put_manifest(repo, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")
    expect(client.get_manifest(repo, "v1"), 404, "MANIFEST_UNKNOWN")


def test_missing_config_is_manifest_blob_unknown(client: RegistryClient, repo: str) -> None:
    layer = random_bytes(40)
    client.push_blob(repo, layer)
    body = make_manifest(random_bytes(30), [layer])
    expect(client.put_manifest(repo, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")


def test_blobs_of_another_repo_are_manifest_blob_unknown(client: RegistryClient, new_repo) -> None:
    a, b = new_repo("a"), new_repo("b")
    img = client.random_image(a, "v1")
    client.push_blob(b, b"b exists")
    expect(client.put_manifest(b, "v1", img.manifest), 400, "MANIFEST_BLOB_UNKNOWN")
    expect(client.get_manifest(b, img.manifest_digest), 404, "MANIFEST_UNKNOWN")


# -- invalid content ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"blablabla",
        b"{not json",
        b"",
        b"[1, 2, 3]",
        b'"a string"',
        b"\xff\xfe\x00garbage",
    ],
)
def test_invalid_manifest_is_manifest_invalid(
    client: RegistryClient, repo: str, body: bytes
) -> None:
    expect(client.put_manifest(repo, "bad", body), 400, "MANIFEST_INVALID")
    expect(client.get_manifest(repo, "bad"), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST},  # no config
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": "nope", "layers": []},
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:zz", "size": 2},
            "layers": [],
        },
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": "nope"},
    ],
)
def test_structurally_invalid_manifest_is_manifest_invalid(
    client: RegistryClient, repo: str, body: dict
) -> None:
    media_type = body.get("mediaType", OCI_MANIFEST)
    resp = client.put_manifest(repo, "bad", canonical(body), media_type)
    assert resp.status_code == 400, describe(resp)
    assert resp.json()["errors"][0]["code"] in ("MANIFEST_INVALID", "DIGEST_INVALID"), describe(
        resp
    )


def test_schema1_manifest_is_unsupported(client: RegistryClient, repo: str) -> None:
    schema1 = canonical(
        {
            "schemaVersion": 1,
            "name": repo,
            "tag": "old",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": digest_of(b"x")}],
            "history": [{"v1Compatibility": "{}"}],
            "signatures": [],
        }
    )
    for media_type in (DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V1):
        expect(client.put_manifest(repo, "old", schema1, media_type), 415, "UNSUPPORTED")
    expect(client.get_manifest(repo, "old"), 404)


def test_manifest_over_4_mib_is_413(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo)
    big = json.loads(img.manifest)
    big["annotations"] = {"pad": "x" * (4 * 1024 * 1024 + 10)}
    body = canonical(big)
    resp = client.put_manifest(repo, "big", body)
    assert resp.status_code == 413, describe(resp)
    expect(client.get_manifest(repo, "big"), 404)


def test_manifest_just_under_4_mib_is_accepted(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo)
    big = json.loads(img.manifest)
    big["annotations"] = {"pad": ""}
    overhead = len(canonical(big))
    big["annotations"]["pad"] = "x" * (4 * 1024 * 1024 - overhead - 16)
    body = canonical(big)
    assert len(body) < 4 * 1024 * 1024
    expect(client.put_manifest(repo, "big", body), 201)
    assert expect(client.get_manifest(repo, "big"), 200).content == body


# -- not found ------------------------------------------------------------------------------------


def test_missing_manifest_is_manifest_unknown(client: RegistryClient, repo: str) -> None:
    client.random_image(repo, "exists")
    for ref in ("nope", digest_of(b"no such manifest")):
        expect(client.get_manifest(repo, ref), 404, "MANIFEST_UNKNOWN")
        resp = expect(client.head_manifest(repo, ref), 404)
        assert resp.content == b""


def test_conformance_nonexistent_manifest_reference(client: RegistryClient, repo: str) -> None:
    """The suite asks for ".INVALID_MANIFEST_NAME" and expects 404."""
    client.random_image(repo, "exists")
    resp = client.get_manifest(repo, ".INVALID_MANIFEST_NAME")
    assert resp.status_code in (400, 404), describe(resp)
    assert resp.json()["errors"][0]["code"] in (
        "MANIFEST_UNKNOWN",
        "TAG_INVALID",
        "MANIFEST_INVALID",
    ), describe(resp)
    expect(client.head_manifest(repo, ".INVALID_MANIFEST_NAME"), resp.status_code)


def test_manifest_in_unknown_repository_is_404(client: RegistryClient, new_repo) -> None:
    resp = client.get_manifest(new_repo("ghost"), "latest")
    assert resp.status_code == 404, describe(resp)
    assert resp.json()["errors"][0]["code"] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


# -- delete --------------------------------------------------------------------------------------


def test_delete_by_digest_removes_manifest_and_its_tags(client: RegistryClient, repo: str) -> None:
    keep = client.random_image(repo, "keep")
    img = client.random_image(repo, "a")
    expect(client.put_manifest(repo, "b", img.manifest), 201)
    expect(client.delete_manifest(repo, img.manifest_digest), 202)
    expect(client.get_manifest(repo, img.manifest_digest), 404, "MANIFEST_UNKNOWN")
    expect(client.head_manifest(repo, img.manifest_digest), 404)
    expect(client.get_manifest(repo, "a"), 404, "MANIFEST_UNKNOWN")
    expect(client.get_manifest(repo, "b"), 404, "MANIFEST_UNKNOWN")
    assert expect(client.tags(repo), 200).json()["tags"] == ["keep"]
    assert expect(client.get_manifest(repo, "keep"), 200).content == keep.manifest
    # Deleting again is 404.
    expect(client.delete_manifest(repo, img.manifest_digest), 404, "MANIFEST_UNKNOWN")


def test_delete_by_tag_removes_only_the_tag(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "tagtest0")
    expect(client.put_manifest(repo, "other", img.manifest), 201)
    before = expect(client.tags(repo), 200).json()["tags"]
    expect(client.delete_manifest(repo, "tagtest0"), 202)
    expect(client.get_manifest(repo, "tagtest0"), 404, "MANIFEST_UNKNOWN")
    assert expect(client.get_manifest(repo, img.manifest_digest), 200).content == img.manifest
    assert expect(client.get_manifest(repo, "other"), 200).content == img.manifest
    after = expect(client.tags(repo), 200).json()["tags"]
    assert len(after) == len(before) - 1 and "tagtest0" not in after
    expect(client.delete_manifest(repo, "tagtest0"), 404, "MANIFEST_UNKNOWN")


def test_deleted_manifest_can_be_pushed_again(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "v1")
    expect(client.delete_manifest(repo, img.manifest_digest), 202)
    expect(client.put_manifest(repo, "v1", img.manifest), 201)
    assert expect(client.get_manifest(repo, "v1"), 200).content == img.manifest


def test_index_child_cannot_dangle_after_push(client: RegistryClient, repo: str) -> None:
    """Deleting a child of a stored index either is refused or leaves the index readable."""
    child = client.random_image(repo)
    index = make_index([child.descriptor])
    expect(client.put_manifest(repo, "idx", index, OCI_INDEX), 201)
    resp = client.delete_manifest(repo, child.manifest_digest)
    assert resp.status_code in (202, 400, 405, 409), describe(resp)
    assert expect(client.get_manifest(repo, "idx"), 200).content == index


# -- concurrency ----------------------------------------------------------------------------------


def test_concurrent_puts_of_the_same_manifest(client: RegistryClient, registry, repo: str) -> None:
    img = client.random_image(repo)

    def put(i: int) -> tuple[int, str | None]:
        with RegistryClient(registry.url, *registry.admin) as c:
            r = c.put_manifest(repo, "same", img.manifest)
            return r.status_code, r.headers.get("docker-content-digest")

    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(put, range(8)))
    assert results == [(201, img.manifest_digest)] * 8
    assert expect(client.tags(repo), 200).json()["tags"] == ["same"]
    got = expect(client.get_manifest(repo, "same"), 200)
    assert got.content == img.manifest


def test_concurrent_tags_of_the_same_manifest(client: RegistryClient, registry, repo: str) -> None:
    img = client.random_image(repo)

    def put(i: int) -> int:
        with RegistryClient(registry.url, *registry.admin) as c:
            return c.put_manifest(repo, f"t{i}", img.manifest).status_code

    with cf.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(put, range(8))) == [201] * 8
    assert expect(client.tags(repo), 200).json()["tags"] == [f"t{i}" for i in range(8)]
    for i in range(8):
        assert (
            expect(client.head_manifest(repo, f"t{i}"), 200).headers["docker-content-digest"]
            == img.manifest_digest
        )


def test_concurrent_full_image_pushes_to_new_repository(
    client: RegistryClient, registry, repo: str
) -> None:
    """8 clients push the same image into a repository that does not exist yet."""
    config, layer = random_bytes(100), random_bytes(20_000)
    manifest = make_manifest(config, [layer])

    def push(i: int) -> int:
        with RegistryClient(registry.url, *registry.admin) as c:
            c.push_blob(repo, layer)
            c.push_blob(repo, config)
            return c.put_manifest(repo, "v1", manifest).status_code

    with cf.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(push, range(8))) == [201] * 8
    assert expect(client.get_manifest(repo, "v1"), 200).content == manifest
    assert expect(client.get_blob(repo, digest_of(layer)), 200).content == layer
