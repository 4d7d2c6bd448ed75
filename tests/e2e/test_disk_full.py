"""Disk full on the upload path (filesystem driver): the blob storage of the data dir is
an 8 MiB tmpfs. A 20 MiB push gets 507 with a message saying storage is full, the partial
upload is removed, and the server keeps serving what it has (and takes small pushes)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.e2e.regclient import RegistryClient, describe, error_codes, expect, random_bytes

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def small_disk_server(tmp_path: Path) -> Iterator[DockyardServer]:
    """A server whose ``<data>/storage`` is an 8 MiB tmpfs (the database is not on it)."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (scripts/test runs as root)")
    server = DockyardServer(tmp_path / "srv")
    storage = server.data_dir / "storage"
    storage.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(storage)], check=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(storage)], check=True)


def _uploads(server: DockyardServer) -> list[tuple[str, int]]:
    uploads = server.data_dir / "storage" / "uploads"
    return [(p.name, p.stat().st_size) for p in uploads.iterdir()]


def _storage_full(resp: httpx.Response) -> None:
    assert resp.status_code == 507, describe(resp)
    assert "UNAVAILABLE" in error_codes(resp), describe(resp)
    assert "full" in resp.json()["errors"][0]["message"].lower(), describe(resp)


def test_disk_full_gives_507_removes_the_upload_and_keeps_serving(
    small_disk_server: DockyardServer,
) -> None:
    server = small_disk_server
    repo = "disk/full"
    with RegistryClient(server.url, *server.admin, timeout=60) as client:
        image = client.random_image(repo, "before", layers=1, layer_size=MiB)
        assert _uploads(server) == []
        big = random_bytes(20 * MiB)

        # 1. Monolithic: POST ?digest= with the whole 20 MiB.
        _storage_full(
            client.post(
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": sha256(big)},
                content=big,
                headers={"Content-Type": "application/octet-stream"},
            )
        )
        assert _uploads(server) == []

        # 2. Chunked: one PATCH streaming the 20 MiB (what skopeo and podman send).
        started = expect(client.start_upload(repo), 202)
        location = started.headers["location"]
        _storage_full(
            client.patch(
                location,
                content=big,
                headers={"Content-Type": "application/octet-stream"},
            )
        )
        # The session and its bytes are gone: the disk is not held by a dead upload.
        assert _uploads(server) == []
        expect(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")

        # 3. Chunked in pieces: the chunk that overflows fails; the whole upload goes.
        started = expect(client.start_upload(repo), 202)
        location = started.headers["location"]
        offset = 0
        last: httpx.Response | None = None
        for i in range(0, len(big), 2 * MiB):
            piece = big[i : i + 2 * MiB]
            last = client.patch(
                location,
                content=piece,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                },
            )
            if last.status_code != 202:
                break
            offset += len(piece)
            location = last.headers["location"]
        assert last is not None
        _storage_full(last)
        assert 0 < offset < len(big)
        assert _uploads(server) == []
        expect(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")

        # The blob was never made visible.
        expect(client.head_blob(repo, sha256(big)), 404)

        # Still serving: the image pushed before, bytes intact, and readiness.
        got = expect(client.get_manifest(repo, "before"), 200)
        assert got.content == image.manifest
        for digest, data in zip(image.layer_digests, image.layers, strict=True):
            blob = expect(client.get_blob(repo, digest), 200)
            assert blob.content == data
        assert httpx.get(f"{server.url}/readyz").status_code == 200

        # And the space an aborted upload took is free again: small pushes work.
        small = random_bytes(512 * 1024)
        digest = client.push_blob(repo, small)
        assert expect(client.get_blob(repo, digest), 200).content == small
