"""Blob pull (HEAD/GET, Range), delete, digest algorithms and tenant isolation."""

from __future__ import annotations

import concurrent.futures as cf

import pytest
from tests.e2e.regclient import (
    RegistryClient,
    describe,
    digest_of,
    expect,
    random_bytes,
)

pytestmark = pytest.mark.e2e

DUMMY_DIGEST = digest_of(b"hello world")  # the conformance suite's "dummyDigest"


def test_head_and_get_nonexistent_blob_is_404(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, b"make the repository exist")
    resp = expect(client.head_blob(repo, DUMMY_DIGEST), 404)
    assert resp.content == b""
    expect(client.get_blob(repo, DUMMY_DIGEST), 404, "BLOB_UNKNOWN")


def test_head_existing_blob_headers(client: RegistryClient, repo: str) -> None:
    data = random_bytes(1234)
    d = client.push_blob(repo, data)
    resp = expect(client.head_blob(repo, d), 200)
    assert resp.headers.get("docker-content-digest") == d, describe(resp)
    assert resp.headers.get("content-length") == str(len(data)), describe(resp)
    assert resp.content == b""


def test_get_existing_blob(client: RegistryClient, repo: str) -> None:
    data = random_bytes(4096)
    d = client.push_blob(repo, data)
    resp = expect(client.get_blob(repo, d), 200)
    assert resp.content == data
    assert resp.headers.get("docker-content-digest") == d
    assert resp.headers.get("content-length") == str(len(data))


def test_sha512_blob_monolithic_put(client: RegistryClient, repo: str) -> None:
    data = random_bytes(777)
    d = client.push_blob(repo, data, algorithm="sha512")
    assert d.startswith("sha512:") and len(d) == len("sha512:") + 128
    resp = expect(client.get_blob(repo, d), 200)
    assert resp.content == data
    assert resp.headers.get("docker-content-digest") == d
    head = expect(client.head_blob(repo, d), 200)
    assert head.headers.get("content-length") == str(len(data))


def test_sha512_blob_monolithic_post(client: RegistryClient, repo: str) -> None:
    data = random_bytes(300)
    resp = expect(client.push_blob_monolithic_post(repo, data, algorithm="sha512"), 201)
    d = digest_of(data, "sha512")
    assert resp.headers.get("docker-content-digest") == d
    assert expect(client.get_blob(repo, d), 200).content == data


def test_sha512_blob_chunked(client: RegistryClient, repo: str) -> None:
    data = random_bytes(3000)
    d, _ = client.push_chunked(repo, data, 1000, algorithm="sha512")
    assert expect(client.get_blob(repo, d), 200).content == data


def test_empty_blob(client: RegistryClient, repo: str) -> None:
    d = client.push_blob(repo, b"")
    assert d == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    resp = expect(client.get_blob(repo, d), 200)
    assert resp.content == b""
    assert expect(client.head_blob(repo, d), 200).headers.get("content-length") == "0"


# -- Range ----------------------------------------------------------------------------------


@pytest.fixture
def ranged_blob(client: RegistryClient, repo: str) -> tuple[str, str, bytes]:
    data = bytes(range(256)) * 8  # 2048 bytes, position-recognisable
    return repo, client.push_blob(repo, data), data


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=2000-", 2000, 2047),
        ("bytes=-48", 2000, 2047),
        ("bytes=2040-5000", 2040, 2047),
    ],
)
def test_range_request_is_206(
    client: RegistryClient, ranged_blob, header: str, start: int, end: int
) -> None:
    repo, d, data = ranged_blob
    resp = expect(client.get_blob(repo, d, headers={"Range": header}), 206)
    assert resp.content == data[start : end + 1]
    assert resp.headers.get("content-range") == f"bytes {start}-{end}/{len(data)}", describe(resp)
    assert resp.headers.get("content-length") == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=2048-", "bytes=5000-6000"])
def test_unsatisfiable_range_is_416(client: RegistryClient, ranged_blob, header: str) -> None:
    repo, d, data = ranged_blob
    resp = expect(client.get_blob(repo, d, headers={"Range": header}), 416)
    cr = resp.headers.get("content-range")
    assert cr is None or cr == f"bytes */{len(data)}", describe(resp)


def test_range_on_missing_blob_is_404(client: RegistryClient, ranged_blob) -> None:
    repo, _, _ = ranged_blob
    expect(client.get_blob(repo, DUMMY_DIGEST, headers={"Range": "bytes=0-1"}), 404, "BLOB_UNKNOWN")


# -- delete ---------------------------------------------------------------------------------


def test_delete_blob(client: RegistryClient, repo: str) -> None:
    keep = client.push_blob(repo, b"keep me")
    d = client.push_blob(repo, random_bytes(50))
    expect(client.delete(f"/v2/{repo}/blobs/{d}"), 202)
    expect(client.get_blob(repo, d), 404, "BLOB_UNKNOWN")
    expect(client.head_blob(repo, d), 404)
    expect(client.delete(f"/v2/{repo}/blobs/{d}"), 404, "BLOB_UNKNOWN")
    # Other blobs of the repository are untouched.
    assert expect(client.get_blob(repo, keep), 200).content == b"keep me"


def test_delete_blob_in_one_repo_keeps_it_in_another(client: RegistryClient, new_repo) -> None:
    a, b = new_repo("a"), new_repo("b")
    data = random_bytes(200)
    d = client.push_blob(a, data)
    client.push_blob(b, data)
    expect(client.delete(f"/v2/{a}/blobs/{d}"), 202)
    expect(client.get_blob(a, d), 404, "BLOB_UNKNOWN")
    assert expect(client.get_blob(b, d), 200).content == data


def test_blob_can_be_pushed_again_after_delete(client: RegistryClient, repo: str) -> None:
    data = random_bytes(99)
    d = client.push_blob(repo, data)
    expect(client.delete(f"/v2/{repo}/blobs/{d}"), 202)
    assert client.push_blob(repo, data) == d
    assert expect(client.get_blob(repo, d), 200).content == data


# -- tenant isolation -----------------------------------------------------------------------


def test_blob_in_repo_a_is_unknown_in_repo_b(client: RegistryClient, new_repo) -> None:
    a, b = new_repo("a"), new_repo("b")
    client.push_blob(b, b"b exists")
    data = random_bytes(321)
    d = client.push_blob(a, data)
    expect(client.get_blob(b, d), 404, "BLOB_UNKNOWN")
    expect(client.head_blob(b, d), 404)
    expect(client.get_blob(b, d, headers={"Range": "bytes=0-3"}), 404, "BLOB_UNKNOWN")
    # Same namespace, other repository: still isolated.
    sibling = a.split("/")[0] + "/sibling"
    client.push_blob(sibling, b"sibling exists")
    expect(client.get_blob(sibling, d), 404, "BLOB_UNKNOWN")
    # DELETE in B must not reach A's copy.
    resp = client.delete(f"/v2/{b}/blobs/{d}")
    expect(resp, 404, "BLOB_UNKNOWN")
    assert expect(client.get_blob(a, d), 200).content == data


def test_blob_in_unknown_repository_is_404(client: RegistryClient, new_repo) -> None:
    a = new_repo("a")
    d = client.push_blob(a, random_bytes(20))
    resp = client.get_blob(new_repo("never-pushed"), d)
    assert resp.status_code == 404, describe(resp)
    assert resp.json()["errors"][0]["code"] in ("BLOB_UNKNOWN", "NAME_UNKNOWN"), describe(resp)


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_pushes_of_the_same_blob(client: RegistryClient, registry, repo: str) -> None:
    data = random_bytes(256 * 1024)
    d = digest_of(data)

    def push(i: int) -> str:
        with RegistryClient(registry.url, *registry.admin) as c:
            if i % 2:
                return c.push_chunked(repo, data, 64 * 1024)[0]
            return c.push_blob(repo, data)

    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(push, range(8)))
    assert results == [d] * 8
    resp = expect(client.get_blob(repo, d), 200)
    assert resp.content == data
    assert resp.headers.get("content-length") == str(len(data))
