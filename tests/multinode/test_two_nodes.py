"""Two nodes, one registry: node A and node B share one PostgreSQL database and one S3
bucket and nothing else. Whatever one node acknowledges, the other serves at once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tests.e2e import clients as C
from tests.e2e.regclient import OCI_MANIFEST, RegistryClient, describe, expect, random_bytes
from tests.multinode.conftest import Cluster, ClusterFactory

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def token(url: str, auth: tuple[str, str], *scopes: str) -> str:
    resp = httpx.get(
        f"{url}/auth/token",
        params=[("service", "dockyard"), *(("scope", s) for s in scopes)],
        auth=auth,
        timeout=30,
    )
    assert resp.status_code == 200, describe(resp)
    return str(resp.json()["token"])


def local(location: str) -> str:
    """A Location header as a path: each node names itself in it; any node serves it."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def count(cluster: Cluster, sql: str) -> int:
    return int(cluster.pg.psql(sql, database=cluster.database).strip())


# -- start-up and shared secrets ------------------------------------------------------------


def test_nodes_started_at_once_on_an_empty_database_share_one_setup(
    make_cluster: ClusterFactory,
) -> None:
    """First start is check-then-insert: without the setup lock, two nodes starting on one
    empty database both create the account (or one dies on a duplicate key)."""
    for round_ in range(3):
        cluster = make_cluster()  # a fresh database; A and B started at the same moment
        try:
            assert count(cluster, "SELECT count(*) FROM accounts") == 1, round_
            assert count(cluster, "SELECT count(*) FROM instances") == 1, round_
            assert count(cluster, "SELECT count(*) FROM users WHERE username = 'admin'") == 1
            assert count(cluster, "SELECT count(*) FROM signing_keys") == 1, round_
            assert count(cluster, "SELECT count(*) FROM roles WHERE builtin") == 1, round_
            a, b = cluster.a, cluster.b
            # One signing key, so both publish the same JWKS; a token from A works on B.
            assert httpx.get(f"{a.url}/auth/jwks.json").json() == (
                httpx.get(f"{b.url}/auth/jwks.json").json()
            )
            issued = token(a.url, cluster.admin, "repository:first/start:pull,push")
            probe = httpx.get(f"{b.url}/v2/", headers={"Authorization": f"Bearer {issued}"})
            assert probe.status_code == 200, describe(probe)
            for node in (a, b):
                assert "Traceback" not in node.log_text(), node.log_tail()
        finally:
            cluster.stop()


def test_token_issued_by_a_is_accepted_by_b(two_nodes: Cluster) -> None:
    a, b = two_nodes.a, two_nodes.b
    for issuer, verifier in ((a, b), (b, a)):
        issued = token(issuer.url, two_nodes.admin, "repository:tok/shared:pull,push")
        headers = {"Authorization": f"Bearer {issued}"}
        started = httpx.post(f"{verifier.url}/v2/tok/shared/blobs/uploads/", headers=headers)
        assert started.status_code == 202, describe(started)
        # The upload session is shared too: its status is known on the issuing node.
        status = httpx.get(f"{issuer.url}{local(started.headers['location'])}", headers=headers)
        assert status.status_code == 204, describe(status)


# -- real clients ---------------------------------------------------------------------------


def test_push_through_a_pull_through_b_with_skopeo_and_podman(
    two_nodes: Cluster, tmp_path: Path
) -> None:
    a, b, admin = two_nodes.a, two_nodes.b, two_nodes.admin
    sk = C.Skopeo(tmp_path / "skopeo")
    info = C.make_oci_layout(tmp_path / "layout", layer_size=3 * MiB, layers=2)
    assert sk.copy(info.oci_ref, f"docker://{a.host}/mn/app:v1", dest_creds=admin) == info.digest

    # skopeo through B: the same bytes, blob for blob.
    back = sk.copy(f"docker://{b.host}/mn/app:v1", f"oci:{tmp_path / 'back'}:v1", src_creds=admin)
    assert back == info.digest
    for blob in info.blobs():
        pulled = tmp_path / "back" / "blobs" / "sha256" / blob.digest[7:]
        assert C._sha256(pulled.read_bytes()) == blob.digest
    assert sk.list_tags(f"docker://{b.host}/mn/app", creds=admin) == ["v1"]

    with C.Podman(tmp_path / "podman") as podman:
        podman.pull(f"{b.host}/mn/app:v1", creds=admin)
        assert podman.image_digest(f"{b.host}/mn/app:v1") == info.digest
        # podman re-serialises what it pushes: the digest it reports is what B must serve.
        pushed = podman.push(f"{b.host}/mn/app:v1", f"{a.host}/mn/from-podman:v1", creds=admin)
        served = sk.inspect_raw(f"docker://{b.host}/mn/from-podman:v1", creds=admin)
        assert C._sha256(served) == pushed
    # A podman with empty storage (one that has the image already keeps its old digest).
    with C.Podman(tmp_path / "podman-2") as podman:
        podman.pull(f"{b.host}/mn/from-podman:v1", creds=admin)
        assert podman.image_digest(f"{b.host}/mn/from-podman:v1") == pushed


def test_chunked_upload_alternating_between_nodes(two_nodes: Cluster) -> None:
    """PATCHes alternate A, B, A, …; sizes straddle S3's 5 MiB part minimum and the 8 MiB
    part size, so parts and tails written by one node are continued by the other."""
    nodes = [two_nodes.a, two_nodes.b]
    repo = "mn/chunked"
    issued = token(nodes[0].url, two_nodes.admin, f"repository:{repo}:pull,push")
    headers = {"Authorization": f"Bearer {issued}"}
    sizes = [
        3 * MiB,
        6 * MiB,
        200 * 1024,
        5 * MiB + 7,
        1 * MiB,
        9 * MiB,
        17,
        2 * MiB,
        8 * MiB,
        700 * 1024,
        4 * MiB + 3,
    ]
    chunks = [random_bytes(n) for n in sizes]
    last = random_bytes(MiB + MiB // 2)  # sent with the final PUT
    data = b"".join(chunks) + last
    digest = sha256(data)

    with httpx.Client(headers=headers, timeout=120) as http:
        started = http.post(f"{nodes[0].url}/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, describe(started)
        path = local(started.headers["location"])
        offset = 0
        for i, chunk in enumerate(chunks):
            node, other = nodes[i % 2], nodes[(i + 1) % 2]
            resp = http.patch(
                f"{node.url}{path}",
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            assert resp.status_code == 202, f"chunk {i} on {node.url}\n{describe(resp)}"
            offset += len(chunk)
            assert resp.headers["range"] == f"0-{offset - 1}"
            path = local(resp.headers["location"])
            # The other node knows where the upload stands, at once.
            status = http.get(f"{other.url}{path}")
            assert status.status_code == 204, describe(status)
            assert status.headers["range"] == f"0-{offset - 1}"
        # Finished on the node that did not take the last PATCH.
        finisher = nodes[len(chunks) % 2]
        done = http.put(
            f"{finisher.url}{path}",
            params={"digest": digest},
            content=last,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{len(data) - 1}",
            },
        )
        assert done.status_code == 201, describe(done)
        assert done.headers["docker-content-digest"] == digest
        for node in nodes:
            head = http.head(f"{node.url}/v2/{repo}/blobs/{digest}")
            assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
            got = http.get(f"{node.url}/v2/{repo}/blobs/{digest}")
            assert got.status_code == 200 and sha256(got.content) == digest
        ranged = http.get(
            f"{nodes[1].url}/v2/{repo}/blobs/{digest}",
            headers={"Range": f"bytes={9 * MiB}-{9 * MiB + 99}"},
        )
        assert ranged.status_code == 206 and ranged.content == data[9 * MiB : 9 * MiB + 100]
        # The upload session is gone on both nodes.
        for node in nodes:
            gone = http.get(f"{node.url}{path}")
            assert gone.status_code == 404, describe(gone)

    # And its S3 objects and multipart uploads with it.
    s3 = two_nodes.moto.client()
    leftovers = s3.list_objects_v2(Bucket=two_nodes.bucket, Prefix="registry/uploads/")
    names = [o["Key"] for o in leftovers.get("Contents", [])]
    key = path.rsplit("/", 1)[-1]
    assert not [n for n in names if key in n], names


def test_manifest_pushed_on_one_node_is_served_by_the_other_at_once(two_nodes: Cluster) -> None:
    a = RegistryClient(two_nodes.a.url, *two_nodes.admin)
    b = RegistryClient(two_nodes.b.url, *two_nodes.admin)
    try:
        repo = "mn/manifests"
        image = a.random_image(repo, "base", layers=2, layer_size=4096)
        doc = json.loads(image.manifest)
        for i in range(20):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            doc["annotations"] = {"n": str(i)}
            body = json.dumps(doc, separators=(",", ":")).encode()
            expect(writer.put_manifest(repo, f"t{i}", body), 201)
            got = expect(reader.get_manifest(repo, f"t{i}", accept=OCI_MANIFEST), 200)
            assert got.content == body
            assert got.headers["docker-content-digest"] == sha256(body)
            # Moving a tag is seen at once too.
            expect(writer.put_manifest(repo, "latest", body), 201)
            latest = expect(reader.get_manifest(repo, "latest", accept=OCI_MANIFEST), 200)
            assert latest.content == body
    finally:
        a.close()
        b.close()


def test_delete_through_b_is_visible_on_a_at_once(two_nodes: Cluster, tmp_path: Path) -> None:
    a, b, admin = two_nodes.a, two_nodes.b, two_nodes.admin
    sk = C.Skopeo(tmp_path / "skopeo")
    info = C.make_oci_layout(tmp_path / "layout", layer_size=64 * 1024)
    for tag in ("keep", "gone"):
        sk.copy(info.oci_ref, f"docker://{a.host}/mn/del-{tag}:v1", dest_creds=admin)
    ca = RegistryClient(a.url, *admin)
    cb = RegistryClient(b.url, *admin)
    try:
        # A manifest deleted by digest through B (skopeo delete) is gone from A at once.
        expect(ca.get_manifest("mn/del-gone", info.digest), 200)
        sk.delete(f"docker://{b.host}/mn/del-gone@{info.digest}", creds=admin)
        expect(ca.get_manifest("mn/del-gone", info.digest), 404, "MANIFEST_UNKNOWN")
        expect(ca.get_manifest("mn/del-gone", "v1"), 404, "MANIFEST_UNKNOWN")
        assert ca.tags("mn/del-gone").json()["tags"] in (None, [])

        # A tag deleted through B: A no longer resolves it; the manifest stays.
        image = ca.random_image("mn/del-tag", "t1")
        expect(ca.put_manifest("mn/del-tag", "t2", image.manifest), 201)
        expect(cb.delete_manifest("mn/del-tag", "t1"), 202)
        expect(ca.get_manifest("mn/del-tag", "t1"), 404, "MANIFEST_UNKNOWN")
        expect(ca.get_manifest("mn/del-tag", "t2"), 200)
        assert ca.tags("mn/del-tag").json()["tags"] == ["t2"]

        # A blob unlinked through B is unknown in that repository on A.
        layer = image.layer_digests[0]
        expect(cb.delete(f"/v2/mn/del-tag/blobs/{layer}"), 202)
        expect(ca.head_blob("mn/del-tag", layer), 404)
        # The untouched repository is as it was.
        expect(ca.get_manifest("mn/del-keep", "v1"), 200)
    finally:
        ca.close()
        cb.close()


def test_tag_lists_and_catalog_agree_on_both_nodes(two_nodes: Cluster) -> None:
    a = RegistryClient(two_nodes.a.url, *two_nodes.admin)
    b = RegistryClient(two_nodes.b.url, *two_nodes.admin)
    try:
        for i, (writer, repo) in enumerate(
            [(a, "mn/list-one"), (b, "mn/list-one"), (b, "mn/list-two"), (a, "mn/list-three")]
        ):
            writer.random_image(repo, f"v{i}")
        catalogs = [expect(c.catalog(), 200).json()["repositories"] for c in (a, b)]
        assert catalogs[0] == catalogs[1]
        assert {"mn/list-one", "mn/list-two", "mn/list-three"} <= set(catalogs[0])
        for repo in sorted(catalogs[0]):
            lists = [expect(c.tags(repo), 200).json() for c in (a, b)]
            assert lists[0] == lists[1], repo
        assert a.tags("mn/list-one").json()["tags"] == ["v0", "v1"]
        # Paginated listings agree too (the cursor is not node-local state).
        pages = [expect(c.catalog(n=2), 200) for c in (a, b)]
        assert pages[0].json() == pages[1].json()
        assert pages[0].headers.get("link") == pages[1].headers.get("link")
    finally:
        a.close()
        b.close()
