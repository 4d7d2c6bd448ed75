"""Cross-repository blob mount."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from tests.e2e.regclient import (
    RegistryClient,
    describe,
    digest_of,
    expect,
    random_bytes,
)

pytestmark = pytest.mark.e2e


def test_mount_existing_blob_is_201(client: RegistryClient, new_repo) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    data = random_bytes(2048)
    d = client.push_blob(src, data)
    expect(client.get_blob(dst, d), 404)
    resp = expect(client.mount(dst, d, src), 201)
    assert urlsplit(resp.headers["location"]).path == f"/v2/{dst}/blobs/{d}", describe(resp)
    assert resp.headers.get("docker-content-digest") == d
    got = expect(client.get(resp.headers["location"]), 200)
    assert got.content == data
    # The source keeps its copy; both are independent afterwards.
    expect(client.delete(f"/v2/{dst}/blobs/{d}"), 202)
    assert expect(client.get_blob(src, d), 200).content == data


def test_mounted_blob_can_be_referenced_by_a_manifest(client: RegistryClient, new_repo) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    img = client.random_image(src, "v1")
    for d in [img.config_digest, *img.layer_digests]:
        expect(client.mount(dst, d, src), 201)
    resp = expect(client.put_manifest(dst, "v1", img.manifest), 201)
    assert resp.headers.get("docker-content-digest") == img.manifest_digest


def test_mount_of_blob_missing_from_source_falls_back_to_upload(
    client: RegistryClient, new_repo
) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    client.push_blob(src, b"src exists")
    data = random_bytes(100)
    d = digest_of(data)
    resp = expect(client.mount(dst, d, src), 202)
    loc = resp.headers.get("location")
    assert loc and urlsplit(loc).path.startswith(f"/v2/{dst}/blobs/uploads/"), describe(resp)
    assert resp.headers.get("docker-upload-uuid"), describe(resp)
    # The fallback is a real upload session.
    expect(client.put(loc, params={"digest": d}, content=data), 201)
    assert expect(client.get_blob(dst, d), 200).content == data


def test_mount_without_from_yields_upload_session(client: RegistryClient, new_repo) -> None:
    """Conformance: "Cross-mounting of a blob without the from argument should yield session id"."""
    src, dst = new_repo("src"), new_repo("dst")
    d = client.push_blob(src, random_bytes(10))
    resp = expect(client.mount(dst, digest_of(b"hello world"), None), 202)
    assert resp.headers.get("location"), describe(resp)
    # Even for a blob that exists elsewhere: no automatic discovery across repositories.
    resp = expect(client.mount(dst, d, None), 202)
    assert urlsplit(resp.headers["location"]).path.startswith(f"/v2/{dst}/blobs/uploads/")
    expect(client.get_blob(dst, d), 404, "BLOB_UNKNOWN")


def test_mount_only_from_the_named_repository(client: RegistryClient, new_repo) -> None:
    """The blob exists in C, but `from` names A (where it is not): no mount (isolation)."""
    a, c, dst = new_repo("a"), new_repo("c"), new_repo("dst")
    client.push_blob(a, b"a exists")
    d = client.push_blob(c, random_bytes(77))
    expect(client.mount(dst, d, a), 202)
    expect(client.get_blob(dst, d), 404, "BLOB_UNKNOWN")


def test_mount_from_unknown_repository_falls_back(client: RegistryClient, new_repo) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    d = client.push_blob(src, random_bytes(10))
    resp = expect(client.mount(dst, d, new_repo("ghost")), 202)
    assert resp.headers.get("location")
    expect(client.get_blob(dst, d), 404, "BLOB_UNKNOWN")


def test_mount_sha512_blob(client: RegistryClient, new_repo) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    data = random_bytes(500)
    d = client.push_blob(src, data, algorithm="sha512")
    resp = expect(client.mount(dst, d, src), 201)
    assert resp.headers.get("docker-content-digest") == d
    assert expect(client.get_blob(dst, d), 200).content == data


def test_mount_after_source_deleted_it_falls_back(client: RegistryClient, new_repo) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    d = client.push_blob(src, random_bytes(40))
    client.push_blob(src, b"keep src alive")
    expect(client.delete(f"/v2/{src}/blobs/{d}"), 202)
    expect(client.mount(dst, d, src), 202)
    expect(client.get_blob(dst, d), 404, "BLOB_UNKNOWN")


def test_mount_with_token_needs_pull_on_source(client: RegistryClient, new_repo) -> None:
    """A token scoped only to dst must not be able to copy a blob out of src."""
    src, dst = new_repo("src"), new_repo("dst")
    d = client.push_blob(src, random_bytes(33))
    token = client.fetch_token([f"repository:{dst}:pull,push"]).json()["token"]
    resp = client.bearer(
        "POST", f"/v2/{dst}/blobs/uploads/", token, params={"mount": d, "from": src}
    )
    # Either refused outright, or downgraded to a plain upload session.
    assert resp.status_code in (202, 401, 403), describe(resp)
    expect(client.get_blob(dst, d), 404, "BLOB_UNKNOWN")
    # With pull on the source as well, the mount works.
    token = client.fetch_token([f"repository:{dst}:pull,push", f"repository:{src}:pull"]).json()[
        "token"
    ]
    resp = client.bearer(
        "POST", f"/v2/{dst}/blobs/uploads/", token, params={"mount": d, "from": src}
    )
    expect(resp, 201)
