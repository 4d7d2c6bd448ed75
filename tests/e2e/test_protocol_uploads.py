"""Blob uploads: sessions, monolithic, streamed, chunked (across workers), status, cancel."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from tests.e2e.regclient import (
    RegistryClient,
    describe,
    digest_of,
    expect,
    random_bytes,
    worker_pid,
)

pytestmark = pytest.mark.e2e


def _path(url: str) -> str:
    return urlsplit(url).path


def test_post_starts_a_session(client: RegistryClient, registry, repo: str) -> None:
    resp = expect(client.start_upload(repo), 202)
    loc = resp.headers.get("location")
    assert loc, describe(resp)
    assert loc.startswith(registry.url + "/"), f"Location must be absolute: {loc}"
    assert _path(loc).startswith(f"/v2/{repo}/blobs/uploads/"), loc
    uuid = resp.headers.get("docker-upload-uuid")
    assert uuid and uuid in loc, describe(resp)
    # A new upload's status is an empty range.
    status = expect(client.get(loc), 204)
    assert status.headers.get("docker-upload-uuid") == uuid


def test_each_post_gets_its_own_session(client: RegistryClient, repo: str) -> None:
    locs = {client.upload_location(repo) for _ in range(5)}
    assert len(locs) == 5


def test_monolithic_post_with_digest(client: RegistryClient, repo: str) -> None:
    data = random_bytes(1000)
    d = digest_of(data)
    resp = expect(client.push_blob_monolithic_post(repo, data), 201)
    assert resp.headers.get("docker-content-digest") == d
    assert _path(resp.headers["location"]) == f"/v2/{repo}/blobs/{d}", describe(resp)
    assert expect(client.get_blob(repo, d), 200).content == data


def test_post_then_put_with_body(client: RegistryClient, repo: str) -> None:
    data = random_bytes(2000)
    d = digest_of(data)
    loc = client.upload_location(repo)
    resp = expect(
        client.put(
            loc,
            params={"digest": d},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        ),
        201,
    )
    assert _path(resp.headers["location"]) == f"/v2/{repo}/blobs/{d}", describe(resp)
    assert resp.headers.get("docker-content-digest") == d
    assert expect(client.get_blob(repo, d), 200).content == data
    # The finished session is gone.
    expect(client.get(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(client.put(loc, params={"digest": d}, content=data), 404, "BLOB_UPLOAD_UNKNOWN")


def test_streamed_patch_without_content_range(client: RegistryClient, repo: str) -> None:
    """Conformance "Blob Upload Streamed": PATCH the whole blob, then PUT without body."""
    data = random_bytes(4321)
    d = digest_of(data)
    loc = client.upload_location(repo)
    resp = expect(
        client.patch(loc, content=data, headers={"Content-Type": "application/octet-stream"}), 202
    )
    assert resp.headers.get("location"), describe(resp)
    assert resp.headers.get("range") == f"0-{len(data) - 1}", describe(resp)
    resp = expect(client.put(resp.headers["location"], params={"digest": d}), 201)
    assert resp.headers.get("location")
    assert expect(client.get_blob(repo, d), 200).content == data


def test_conformance_chunked_sequence(client: RegistryClient, repo: str) -> None:
    """The conformance "Blob Upload Chunked" context, step by step."""
    blob = random_bytes(42)
    chunk1, chunk2 = blob[:22], blob[22:]
    range1, range2 = "0-21", "22-41"
    octet = {"Content-Type": "application/octet-stream"}

    # Out-of-order: the second chunk first -> 416.
    loc = client.upload_location(repo)
    resp = client.patch(loc, content=chunk2, headers={**octet, "Content-Range": range2})
    expect(resp, 416)

    # First chunk -> 202 with Range.
    first_loc = client.upload_location(repo)
    resp = expect(
        client.patch(first_loc, content=chunk1, headers={**octet, "Content-Range": range1}), 202
    )
    assert resp.headers.get("range") == range1, describe(resp)
    assert resp.headers.get("location"), describe(resp)

    # Retrying the first chunk at the POST's location -> 416.
    resp = client.patch(first_loc, content=chunk1, headers={**octet, "Content-Range": range1})
    expect(resp, 416)

    # Status at the (stale) POST location -> 204 with Range and Location.
    resp = expect(client.get(first_loc), 204)
    assert resp.headers.get("location"), describe(resp)
    assert resp.headers.get("range") == range1, describe(resp)

    # Second chunk -> 202.
    resp = expect(
        client.patch(
            resp.headers["location"], content=chunk2, headers={**octet, "Content-Range": range2}
        ),
        202,
    )
    assert resp.headers.get("location")
    assert resp.headers.get("range") == "0-41", describe(resp)

    # PUT with digest, empty body -> 201.
    d = digest_of(blob)
    resp = expect(
        client.put(
            resp.headers["location"], params={"digest": d}, headers={**octet, "Content-Length": "0"}
        ),
        201,
    )
    assert _path(resp.headers["location"]) == f"/v2/{repo}/blobs/{d}"
    assert expect(client.get_blob(repo, d), 200).content == blob


def test_many_chunks_across_workers(registry, repo: str) -> None:
    """24 chunks, each on a new connection, so the two workers share one session."""
    data = random_bytes(24 * 4096 + 123)
    with RegistryClient(registry.url, *registry.admin, keepalive=False) as c:
        d, responses = c.push_chunked(repo, data, 4096)
        assert len(responses) >= 20
        # Interleave status checks on new connections too.
        loc = c.upload_location(repo)
        offset = 0
        for i in range(20):
            chunk = data[i * 100 : (i + 1) * 100]
            expect(c.patch_chunk(loc, chunk, offset), 202)
            offset += len(chunk)
            status = expect(c.get(loc), 204)
            assert status.headers.get("range") == f"0-{offset - 1}", describe(status)
        part = data[:offset]
        expect(c.put(loc, params={"digest": digest_of(part)}), 201)
        assert expect(c.get_blob(repo, digest_of(part)), 200).content == part
        resp = expect(c.get_blob(repo, d), 200)
        assert resp.content == data


def test_chunks_alternate_between_two_workers(worker_pair, registry, repo: str) -> None:
    """24 chunks alternating between two connections proven to be on different workers."""
    a, b = worker_pair
    data = random_bytes(24 * 2048 + 77)
    chunks = [data[i : i + 2048] for i in range(0, len(data), 2048)]
    assert len(chunks) >= 20
    loc = a.upload_location(repo)
    served_by: set[int | None] = set()
    offset = 0
    for i, chunk in enumerate(chunks):
        c = (a, b)[i % 2]
        resp = expect(c.patch_chunk(loc, chunk, offset), 202)
        offset += len(chunk)
        assert resp.headers.get("range") == f"0-{offset - 1}", describe(resp)
        served_by.add(worker_pid(registry.port, registry.proc.pid, resp))
        # The other worker sees the same progress.
        other = (b, a)[i % 2]
        status = expect(other.get(loc), 204)
        assert status.headers.get("range") == f"0-{offset - 1}", describe(status)
        loc = resp.headers.get("location") or loc
    served_by.discard(None)
    assert len(served_by) == 2, f"chunks were served by {served_by}, expected two workers"
    d = digest_of(data)
    resp = expect(b.put(loc, params={"digest": d}), 201)
    assert resp.headers.get("docker-content-digest") == d
    assert expect(a.get_blob(repo, d), 200).content == data
    assert expect(b.get_blob(repo, d), 200).content == data


def test_chunked_with_final_chunk_in_put(client: RegistryClient, repo: str) -> None:
    data = random_bytes(10_000)
    d, responses = client.push_chunked(repo, data, 3000, final_chunk_in_put=True)
    assert len(responses) == 3
    assert expect(client.get_blob(repo, d), 200).content == data


def test_out_of_order_chunk_is_416_and_session_survives(client: RegistryClient, repo: str) -> None:
    data = random_bytes(300)
    loc = client.upload_location(repo)
    expect(client.patch_chunk(loc, data[:100], 0), 202)
    # A gap (starts past the end) and an overlap (starts before the end) are both refused.
    expect(client.patch_chunk(loc, data[150:250], 150), 416)
    expect(client.patch_chunk(loc, data[50:150], 50), 416)
    status = expect(client.get(loc), 204)
    assert status.headers.get("range") == "0-99", describe(status)
    expect(client.patch_chunk(loc, data[100:], 100), 202)
    d = digest_of(data)
    expect(client.put(loc, params={"digest": d}), 201)
    assert expect(client.get_blob(repo, d), 200).content == data


def test_first_chunk_not_at_zero_is_416(client: RegistryClient, repo: str) -> None:
    loc = client.upload_location(repo)
    expect(client.patch_chunk(loc, b"abcdef", 10), 416)


def test_upload_status(client: RegistryClient, repo: str) -> None:
    resp = expect(client.start_upload(repo), 202)
    loc, uuid = resp.headers["location"], resp.headers["docker-upload-uuid"]
    expect(client.patch_chunk(loc, b"x" * 1000, 0), 202)
    status = expect(client.get(loc), 204)
    assert status.headers.get("range") == "0-999", describe(status)
    assert status.headers.get("docker-upload-uuid") == uuid
    assert status.headers.get("location"), describe(status)
    assert status.content == b""


def test_cancel_upload(client: RegistryClient, repo: str) -> None:
    loc = client.upload_location(repo)
    expect(client.patch_chunk(loc, b"doomed", 0), 202)
    expect(client.delete(loc), 204)
    expect(client.get(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(client.patch_chunk(loc, b"more", 6), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(client.put(loc, params={"digest": digest_of(b"doomed")}), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(client.delete(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(client.head_blob(repo, digest_of(b"doomed")), 404)


def test_unknown_upload_session_is_404(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, b"exists")
    base = f"/v2/{repo}/blobs/uploads/"
    for uuid in ("00000000-0000-0000-0000-000000000000", "nonexistent"):
        expect(client.get(base + uuid), 404, "BLOB_UPLOAD_UNKNOWN")
        expect(
            client.patch(
                base + uuid, content=b"x", headers={"Content-Type": "application/octet-stream"}
            ),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        expect(
            client.put(base + uuid, params={"digest": digest_of(b"x")}, content=b"x"),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
        expect(client.delete(base + uuid), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_session_is_bound_to_its_repository(client: RegistryClient, new_repo) -> None:
    a, b = new_repo("a"), new_repo("b")
    client.push_blob(b, b"b exists")
    loc = client.upload_location(a)
    uuid_path = _path(loc).rsplit("/", 1)[1]
    other = f"/v2/{b}/blobs/uploads/{uuid_path}"
    expect(client.get(other), 404, "BLOB_UPLOAD_UNKNOWN")
    expect(
        client.patch(
            other,
            content=b"x",
            headers={"Content-Type": "application/octet-stream", "Content-Range": "0-0"},
        ),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    expect(
        client.put(other, params={"digest": digest_of(b"x")}, content=b"x"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    # The session in A still works.
    expect(client.put(loc, params={"digest": digest_of(b"x")}, content=b"x"), 201)
    expect(client.head_blob(b, digest_of(b"x")), 404)


def test_digest_mismatch_on_put_stores_nothing(client: RegistryClient, repo: str) -> None:
    data, claimed = random_bytes(500), random_bytes(500)
    loc = client.upload_location(repo)
    resp = client.put(loc, params={"digest": digest_of(claimed)}, content=data)
    expect(resp, 400, "DIGEST_INVALID")
    expect(client.head_blob(repo, digest_of(claimed)), 404)
    expect(client.head_blob(repo, digest_of(data)), 404)


def test_digest_mismatch_on_monolithic_post_stores_nothing(
    client: RegistryClient, repo: str
) -> None:
    data = random_bytes(500)
    wrong = digest_of(b"something else")
    resp = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": wrong},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    expect(resp, 400, "DIGEST_INVALID")
    expect(client.head_blob(repo, wrong), 404)
    expect(client.head_blob(repo, digest_of(data)), 404)


def test_digest_mismatch_after_chunks(client: RegistryClient, repo: str) -> None:
    data = random_bytes(3000)
    loc = client.upload_location(repo)
    expect(client.patch_chunk(loc, data[:1500], 0), 202)
    expect(client.patch_chunk(loc, data[1500:], 1500), 202)
    wrong = digest_of(data + b"!")
    expect(client.put(loc, params={"digest": wrong}), 400, "DIGEST_INVALID")
    expect(client.head_blob(repo, wrong), 404)
    expect(client.head_blob(repo, digest_of(data)), 404)


def test_sha512_mismatch_is_digest_invalid(client: RegistryClient, repo: str) -> None:
    data = random_bytes(64)
    loc = client.upload_location(repo)
    wrong = digest_of(b"not the data", "sha512")
    expect(client.put(loc, params={"digest": wrong}, content=data), 400, "DIGEST_INVALID")
    expect(client.head_blob(repo, wrong), 404)


@pytest.mark.parametrize(
    "digest",
    [
        "md5:" + "0" * 32,
        "sha256:xyz",
        "sha256:" + "a" * 63,
        "sha256:" + "A" * 64,
        "sha512:" + "0" * 64,
        "notadigest",
        "",
    ],
)
def test_put_with_malformed_digest_is_digest_invalid(
    client: RegistryClient, repo: str, digest: str
) -> None:
    loc = client.upload_location(repo)
    resp = client.put(loc, params={"digest": digest}, content=b"data")
    expect(resp, 400, "DIGEST_INVALID")


def test_put_without_digest_is_rejected(client: RegistryClient, repo: str) -> None:
    loc = client.upload_location(repo)
    resp = client.put(loc, content=b"data")
    assert resp.status_code == 400, describe(resp)
    codes = resp.json()["errors"]
    assert codes and codes[0]["code"] in ("DIGEST_INVALID", "BLOB_UPLOAD_INVALID"), describe(resp)
    # The session is still usable after a refused PUT.
    expect(client.put(loc, params={"digest": digest_of(b"data")}, content=b"data"), 201)


def test_upload_location_formats(client: RegistryClient, repo: str) -> None:
    resp = expect(client.start_upload(repo), 202)
    loc = resp.headers["location"]
    assert re.match(rf"^http://127\.0\.0\.1:\d+/v2/{re.escape(repo)}/blobs/uploads/[^/?]+", loc)
    patched = expect(client.patch_chunk(loc, b"abc", 0), 202)
    assert _path(patched.headers["location"]).startswith(f"/v2/{repo}/blobs/uploads/")
    assert patched.headers.get("docker-upload-uuid") == resp.headers["docker-upload-uuid"]


@pytest.mark.parametrize("content_range", ["0-99", "5-2", "nonsense", "0-"])
def test_bad_content_range_is_refused_and_session_unchanged(
    client: RegistryClient, repo: str, content_range: str
) -> None:
    loc = client.upload_location(repo)
    expect(client.patch_chunk(loc, b"0123456789", 0), 202)
    resp = client.patch(
        loc,
        content=b"abc",
        headers={"Content-Type": "application/octet-stream", "Content-Range": content_range},
    )
    assert resp.status_code in (400, 416), describe(resp)
    status = expect(client.get(loc), 204)
    assert status.headers.get("range") == "0-9", describe(status)
    expect(client.patch_chunk(loc, b"abc", 10), 202)
    d = digest_of(b"0123456789abc")
    expect(client.put(loc, params={"digest": d}), 201)
    assert expect(client.get_blob(repo, d), 200).content == b"0123456789abc"
