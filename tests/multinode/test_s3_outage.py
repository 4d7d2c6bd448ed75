"""S3 goes away under two nodes: blob traffic answers 503 (never 500), nothing half-written
becomes visible, and both nodes serve again by themselves once S3 is back."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from tests.e2e.regclient import describe, error_codes, random_bytes
from tests.multinode.conftest import Cluster, ClusterFactory

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
#: A request during the outage must be answered within this (S3 client retries included).
ANSWER_WITHIN = 30.0
RECOVERY_SECONDS = 20.0


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _token(cluster: Cluster, repo: str) -> dict[str, str]:
    resp = httpx.get(
        f"{cluster.a.url}/auth/token",
        params={"service": "dockyard", "scope": f"repository:{repo}:pull,push,delete"},
        auth=cluster.admin,
    )
    assert resp.status_code == 200, describe(resp)
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def _unavailable(resp: httpx.Response) -> None:
    assert resp.status_code == 503, describe(resp)
    assert "UNAVAILABLE" in error_codes(resp), describe(resp)


def test_s3_outage_gives_503_nothing_half_written_and_recovery(
    make_cluster: ClusterFactory,
) -> None:
    cluster = make_cluster()
    a, b = cluster.a.url, cluster.b.url
    repo = "s3/outage"
    http = httpx.Client(headers=_token(cluster, repo), timeout=ANSWER_WITHIN + 30)
    s3 = cluster.moto.client()

    def blob_keys() -> list[str]:
        listed = s3.list_objects_v2(Bucket=cluster.bucket, Prefix="registry/blobs/")
        return [o["Key"] for o in listed.get("Contents", [])]

    try:
        # Before: one blob stored, one upload session with 1 MiB acknowledged.
        existing = random_bytes(2 * MiB)
        r = http.post(
            f"{a}/v2/{repo}/blobs/uploads/", params={"digest": sha256(existing)}, content=existing
        )
        assert r.status_code == 201, describe(r)
        session_data = random_bytes(3 * MiB)
        r = http.post(f"{b}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, describe(r)
        session = local(r.headers["location"])
        r = http.patch(
            f"{a}{session}",
            content=session_data[:MiB],
            headers={"Content-Range": f"0-{MiB - 1}", "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 202, describe(r)
        before = blob_keys()

        cluster.s3.down()
        lost_blob = random_bytes(12 * MiB)

        # Every blob request answers 503, quickly, on both nodes.
        t0 = time.monotonic()
        _unavailable(
            http.post(
                f"{a}/v2/{repo}/blobs/uploads/",
                params={"digest": sha256(lost_blob)},
                content=lost_blob,
            )
        )
        _unavailable(http.post(f"{b}/v2/{repo}/blobs/uploads/"))
        _unavailable(
            http.patch(
                f"{b}{session}",
                content=session_data[MiB:],
                headers={
                    "Content-Range": f"{MiB}-{len(session_data) - 1}",
                    "Content-Type": "application/octet-stream",
                },
            )
        )
        _unavailable(http.put(f"{a}{session}", params={"digest": sha256(session_data)}))
        _unavailable(http.get(f"{b}/v2/{repo}/blobs/{sha256(existing)}"))
        head = http.head(f"{a}/v2/{repo}/blobs/{sha256(existing)}")
        assert head.status_code in (200, 503), describe(head)
        print(f"six requests during the S3 outage answered in {time.monotonic() - t0:.1f}s")
        for node in (a, b):
            assert httpx.get(f"{node}/readyz", timeout=ANSWER_WITHIN).status_code == 503
            assert httpx.get(f"{node}/healthz").status_code == 200  # alive, not ready

        # A chunk whose body is cut off from S3 midway: S3 goes while it streams.
        cluster.s3.up()
        r = http.post(f"{a}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, describe(r)
        cut = local(r.headers["location"])
        cut_data = random_bytes(12 * MiB)

        def body() -> Iterator[bytes]:
            for i in range(0, len(cut_data), MiB):
                if i == 3 * MiB:
                    cluster.s3.down()
                yield cut_data[i : i + MiB]

        try:
            r = http.patch(
                f"{b}{cut}",
                content=body(),
                headers={
                    "Content-Range": f"0-{len(cut_data) - 1}",
                    "Content-Type": "application/octet-stream",
                },
            )
            _unavailable(r)
        except httpx.TransportError:
            pass  # the node answered 503 before reading the whole body and closed
    finally:
        cluster.s3.up()

    try:
        # S3 is back: both nodes are ready again without a restart.
        deadline = time.monotonic() + RECOVERY_SECONDS
        for node in (a, b):
            while httpx.get(f"{node}/readyz").status_code != 200:
                assert time.monotonic() < deadline, f"{node} did not recover"
                time.sleep(0.2)

        # Nothing half-written is visible: the failed blob is unknown on both nodes and
        # its content address holds nothing in the bucket.
        for node in (a, b):
            gone = http.head(f"{node}/v2/{repo}/blobs/{sha256(lost_blob)}")
            assert gone.status_code == 404, describe(gone)
        assert blob_keys() == before
        # Failed appends changed nothing: each session stands where it was acknowledged.
        for path, acked in ((session, MiB), (cut, 0)):
            for node in (a, b):
                status = http.get(f"{node}{path}")
                assert status.status_code == 204, describe(status)
                assert status.headers["range"] == f"0-{max(acked - 1, 0)}", describe(status)
        # And both resume to correct blobs.
        r = http.patch(
            f"{b}{session}",
            content=session_data[MiB:],
            headers={
                "Content-Range": f"{MiB}-{len(session_data) - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert r.status_code == 202, describe(r)
        r = http.put(f"{a}{session}", params={"digest": sha256(session_data)})
        assert r.status_code == 201, describe(r)
        r = http.put(
            f"{a}{cut}",
            params={"digest": sha256(cut_data)},
            content=cut_data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, describe(r)
        for data in (existing, session_data, cut_data):
            for node in (a, b):
                got = http.get(f"{node}/v2/{repo}/blobs/{sha256(data)}")
                assert got.status_code == 200 and got.content == data, describe(got)
        # The blob that failed during the outage can simply be pushed again.
        r = http.post(
            f"{b}/v2/{repo}/blobs/uploads/", params={"digest": sha256(lost_blob)}, content=lost_blob
        )
        assert r.status_code == 201, describe(r)
        assert http.get(f"{a}/v2/{repo}/blobs/{sha256(lost_blob)}").content == lost_blob
        for node in (cluster.a, cluster.b):
            assert "Traceback" not in node.log_text(), node.log_tail()
    finally:
        http.close()
