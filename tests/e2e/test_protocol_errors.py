"""Error responses: shapes, exact status + OCI code per bad input, and never a 500."""

from __future__ import annotations

import pytest
from tests.e2e.regclient import (
    OCI_MANIFEST,
    RegistryClient,
    describe,
    digest_of,
    expect,
    random_bytes,
)

pytestmark = pytest.mark.e2e

OCI_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}


def test_error_body_shape(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, b"exists")
    resp = expect(client.get_blob(repo, digest_of(b"missing")), 404, "BLOB_UNKNOWN")
    assert resp.headers.get("content-type", "").startswith("application/json"), describe(resp)
    body = resp.json()
    assert set(body) == {"errors"}, body
    assert len(body["errors"]) >= 1
    for err in body["errors"]:
        assert isinstance(err["code"], str) and err["code"] in OCI_CODES, err
        assert isinstance(err["message"], str) and err["message"], err
        assert "detail" in err, err


def test_conformance_400_body_is_oci_json(client: RegistryClient, repo: str) -> None:
    """01_pull "Error codes": GET manifests/sha256:totallywrong."""
    client.random_image(repo, "v1")
    resp = client.get(
        f"/v2/{repo}/manifests/sha256:totallywrong", headers={"Content-Type": OCI_MANIFEST}
    )
    expect(resp, 400, "DIGEST_INVALID")
    assert resp.json()["errors"][0]["code"] in OCI_CODES


# -- names ----------------------------------------------------------------------------------------

BAD_NAMES = [
    "a",  # one component
    "a/b/c",  # three components
    "ns/repo/extra",
    "Upper/repo",  # uppercase namespace
    "ns/Repo",  # uppercase repository
    "-x/y",  # namespace starts with '-'
    "x-/y",  # namespace ends with '-'
    "n/repo",  # namespace too short (2-30)
    "n" * 31 + "/repo",  # namespace too long
    "ns/" + "r" * 65,  # repository too long
    "ns/-repo",
    "ns/repo-",
    "ns/re.po",
    "ns/re%20po",
    "ns..x/repo",
]


def _name_endpoints(name: str) -> list[tuple[str, str, dict]]:
    d = digest_of(b"x")
    return [
        ("GET", f"/v2/{name}/tags/list", {}),
        ("GET", f"/v2/{name}/manifests/latest", {}),
        ("HEAD", f"/v2/{name}/manifests/latest", {}),
        (
            "PUT",
            f"/v2/{name}/manifests/latest",
            {"content": b"{}", "headers": {"Content-Type": OCI_MANIFEST}},
        ),
        ("DELETE", f"/v2/{name}/manifests/{d}", {}),
        ("GET", f"/v2/{name}/blobs/{d}", {}),
        ("HEAD", f"/v2/{name}/blobs/{d}", {}),
        ("DELETE", f"/v2/{name}/blobs/{d}", {}),
        ("POST", f"/v2/{name}/blobs/uploads/", {}),
        ("POST", f"/v2/{name}/blobs/uploads/", {"params": {"digest": d}, "content": b"x"}),
        ("GET", f"/v2/{name}/referrers/{d}", {}),
    ]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_name_is_name_invalid(client: RegistryClient, name: str) -> None:
    for method, path, kw in _name_endpoints(name):
        resp = client.basic(method, path, **kw)
        if method == "HEAD":
            assert resp.status_code == 400, describe(resp)
        else:
            expect(resp, 400, "NAME_INVALID")


def test_invalid_name_as_mount_source(client: RegistryClient, repo: str) -> None:
    d = client.push_blob(repo, random_bytes(8))
    resp = client.mount(repo, d, "Bad/Name/x")
    assert resp.status_code in (202, 400), describe(resp)
    if resp.status_code == 400:
        assert resp.json()["errors"][0]["code"] == "NAME_INVALID"


def test_valid_name_edge_cases_are_accepted(client: RegistryClient) -> None:
    import secrets

    tail = secrets.token_hex(2)
    for name in (f"ab{tail}/r", f"{'n' * 26}{tail}/{'r' * 64}", f"a_b-{tail}/x_y-z9"):
        assert len(name.split("/")[0]) <= 30
        d = client.push_blob(name, name.encode())
        assert expect(client.get_blob(name, d), 200).content == name.encode()


# -- digests --------------------------------------------------------------------------------------

BAD_DIGESTS = [
    "sha256:xyz",
    "sha256:" + "0" * 63,
    "sha256:" + "G" * 64,
    "md5:" + "0" * 32,
    "sha1:" + "0" * 40,
    "sha512:" + "0" * 64,
    "sha256",
    "sha256:",
    ":" + "0" * 64,
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_malformed_blob_digest_is_digest_invalid(
    client: RegistryClient, repo: str, digest: str
) -> None:
    client.push_blob(repo, b"exists")
    expect(client.get_blob(repo, digest), 400, "DIGEST_INVALID")
    expect(client.delete(f"/v2/{repo}/blobs/{digest}"), 400, "DIGEST_INVALID")
    assert client.head_blob(repo, digest).status_code == 400
    resp = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=b"x")
    expect(resp, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("digest", ["sha256:xyz", "md5:" + "0" * 32, "sha512:" + "0" * 64])
def test_malformed_manifest_digest_is_digest_invalid(
    client: RegistryClient, repo: str, digest: str
) -> None:
    client.random_image(repo, "v1")
    expect(client.get_manifest(repo, digest), 400, "DIGEST_INVALID")
    expect(client.delete_manifest(repo, digest), 400, "DIGEST_INVALID")


def test_malformed_mount_digest_is_digest_invalid(client: RegistryClient, new_repo) -> None:
    src, dst = new_repo("src"), new_repo("dst")
    client.push_blob(src, b"exists")
    resp = client.mount(dst, "sha256:nothex", src)
    # The spec lets a registry that cannot mount fall back to a fresh upload session (202);
    # refusing the malformed digest outright (400 DIGEST_INVALID) is also correct.
    if resp.status_code == 202:
        loc = resp.headers.get("location", "")
        assert f"/v2/{dst}/blobs/uploads/" in loc, describe(resp)
        expect(client.get(loc), 204)
    else:
        expect(resp, 400, "DIGEST_INVALID")


def test_manifest_referencing_malformed_digest(client: RegistryClient, repo: str) -> None:
    config = random_bytes(10)
    client.push_blob(repo, config)
    body = (
        b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'",'
        b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
        + digest_of(config).encode()
        + b'","size":10},'
        b'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"md5:abc",'
        b'"size":3}]}'
    )
    resp = client.put_manifest(repo, "v1", body)
    assert resp.status_code == 400, describe(resp)
    assert resp.json()["errors"][0]["code"] in ("MANIFEST_INVALID", "DIGEST_INVALID")


# -- tags -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["-bad", ".bad", "t" * 129, "bad%21tag"])
def test_invalid_tag_on_put_is_400(client: RegistryClient, repo: str, tag: str) -> None:
    img = client.random_image(repo)
    resp = client.put_manifest(repo, tag, img.manifest)
    assert resp.status_code == 400, describe(resp)
    assert resp.json()["errors"][0]["code"] in (
        "TAG_INVALID",
        "MANIFEST_INVALID",
        "DIGEST_INVALID",
    ), describe(resp)
    assert tag not in (expect(client.tags(repo), 200).json()["tags"] or [])


def test_tag_of_128_chars_is_valid(client: RegistryClient, repo: str) -> None:
    tag = "T" + "t" * 127
    img = client.random_image(repo, tag)
    assert expect(client.get_manifest(repo, tag), 200).content == img.manifest


# -- unknowns -------------------------------------------------------------------------------------


def test_not_found_codes(client: RegistryClient, repo: str, new_repo) -> None:
    img = client.random_image(repo, "v1")
    expect(client.get_blob(repo, digest_of(b"nope")), 404, "BLOB_UNKNOWN")
    expect(client.get_manifest(repo, "nope"), 404, "MANIFEST_UNKNOWN")
    expect(client.get_manifest(repo, digest_of(b"nope")), 404, "MANIFEST_UNKNOWN")
    expect(client.delete_manifest(repo, "nope"), 404, "MANIFEST_UNKNOWN")
    expect(client.get(f"/v2/{repo}/blobs/uploads/no-such-upload"), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(client.tags(new_repo("ghost")), 404, "NAME_UNKNOWN")
    # A manifest's digest is not a blob of the repository, nor vice versa.
    expect(client.get_manifest(repo, img.config_digest), 404, "MANIFEST_UNKNOWN")


def test_unknown_routes_are_404_not_500(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, b"exists")
    for method, path in [
        ("GET", f"/v2/{repo}/nothing"),
        ("GET", "/v2/_nope"),
        ("GET", "/nope"),
        ("POST", f"/v2/{repo}/tags/list"),
    ]:
        resp = client.basic(method, path)
        assert resp.status_code in (404, 405), describe(resp)


# -- never a 500 ----------------------------------------------------------------------------------


def test_garbage_requests_never_cause_5xx(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "v1")
    loc = client.upload_location(repo)
    loc2 = client.upload_location(repo)  # a failed PUT may end its session: not ``loc``'s
    octet = {"Content-Type": "application/octet-stream"}
    cases = [
        ("PATCH", loc, {"content": b"abc", "headers": {**octet, "Content-Range": "nonsense"}}),
        ("PATCH", loc, {"content": b"abc", "headers": {**octet, "Content-Range": "5-2"}}),
        ("PATCH", loc, {"content": b"abc", "headers": {**octet, "Content-Range": "0-99"}}),
        ("PATCH", loc, {"content": b"abc", "headers": {**octet, "Content-Range": "-1-1"}}),
        (
            "PUT",
            loc2,
            {"params": [("digest", digest_of(b"a")), ("digest", digest_of(b"b"))], "content": b"a"},
        ),
        ("GET", f"/v2/{repo}/blobs/{img.config_digest}", {"headers": {"Range": "bytes=z-y"}}),
        ("GET", f"/v2/{repo}/blobs/{img.config_digest}", {"headers": {"Range": "items=0-1"}}),
        ("GET", f"/v2/{repo}/blobs/{img.config_digest}", {"headers": {"Range": "bytes=0-1,5-6"}}),
        ("GET", f"/v2/{repo}/blobs/{img.config_digest}", {"headers": {"Range": "bytes=9-2"}}),
        ("GET", f"/v2/{repo}/tags/list", {"params": {"n": "99999999999999999999"}}),
        ("GET", f"/v2/{repo}/tags/list", {"params": {"last": "\x00"}}),
        ("GET", "/v2/_catalog", {"params": {"n": "1e9"}}),
        (
            "GET",
            f"/v2/{repo}/referrers/{img.manifest_digest}",
            {"params": {"artifactType": "\x00weird"}},
        ),
        (
            "PUT",
            f"/v2/{repo}/manifests/v2",
            {"content": b"{}" * 10, "headers": {"Content-Type": "text/plain"}},
        ),
        (
            "PUT",
            f"/v2/{repo}/manifests/v2",
            {"content": b'{"schemaVersion": "two"}', "headers": {"Content-Type": OCI_MANIFEST}},
        ),
        (
            "PUT",
            f"/v2/{repo}/manifests/v2",
            {"content": b'{"schemaVersion": 2}', "headers": {"Content-Type": OCI_MANIFEST}},
        ),
        (
            "PUT",
            f"/v2/{repo}/manifests/v2",
            {
                "content": b'{"schemaVersion": 2, "layers": [1]}',
                "headers": {"Content-Type": OCI_MANIFEST},
            },
        ),
        (
            "PUT",
            f"/v2/{repo}/manifests/v2",
            {"content": b"[" * 5000 + b"]" * 5000, "headers": {"Content-Type": OCI_MANIFEST}},
        ),
        ("PUT", f"/v2/{repo}/manifests/v2", {"content": b"{}"}),
        (
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            {"params": {"mount": img.config_digest, "from": "not a name"}},
        ),
        ("POST", f"/v2/{repo}/blobs/uploads/", {"params": {"mount": "garbage"}}),
        ("GET", "/auth/token", {"params": {"scope": "repository:::::"}}),
        ("GET", "/auth/token", {"params": {"scope": "registry:catalog:*", "service": "x"}}),
        ("POST", "/auth/token", {"data": {"grant_type": "nonsense"}}),
        (
            "POST",
            "/auth/token",
            {
                "content": b"\xff\xfe",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
    ]
    failures = []
    for method, url, kw in cases:
        resp = client.basic(method, url, **kw)
        if resp.status_code >= 500:
            failures.append(describe(resp))
    assert not failures, "\n\n".join(failures)
    # Refused PATCHes leave the upload session as it was.
    status = expect(client.get(loc), 204)
    assert status.headers.get("range") in (None, "0-0"), describe(status)
