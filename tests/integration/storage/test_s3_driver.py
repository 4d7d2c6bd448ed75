"""S3-only behaviour of the blob driver, against a real moto server (tests/s3server.py).

The shared conformance suite (test_driver_suite.py) already runs on S3; these tests cover
what only object storage has: multipart part boundaries, upload state shared by nodes
through the bucket, staging and server-side copies, presigned redirects, and an endpoint
that goes away (→ UnavailableError, nothing half-written visible).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.s3server import MotoServer, TcpProxy, s3_store_config

from dockyard.errors import UnavailableError
from dockyard.oci.digest import Digest
from dockyard.settings import Settings
from dockyard.storage.base import OffsetMismatchError, StorageError
from dockyard.storage.s3 import S3BlobStore, S3UnavailableError

pytestmark = pytest.mark.integration

KiB = 1024
MiB = 1024 * 1024


async def chunks(*parts: bytes, piece: int | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        step = piece or max(1, len(part))
        for i in range(0, len(part), step):
            yield part[i : i + step]


async def read_all(store: S3BlobStore, digest: Digest, start: int = 0, end: int | None = None):
    return b"".join([d async for d in store.open_stream(digest, start, end)])


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return moto_server.create_bucket()


@pytest.fixture
def make_store(moto_server: MotoServer, bucket: str, tmp_path: Path):
    def make(endpoint_url: str | None = None, **overrides: Any) -> S3BlobStore:
        config = s3_store_config(
            endpoint_url or moto_server.endpoint_url, bucket, tmp_path / "spool", **overrides
        )
        return S3BlobStore(config)

    return make


def objects(server: MotoServer, bucket: str, prefix: str = "") -> dict[str, int]:
    client = server.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return found


def leftovers(server: MotoServer, bucket: str) -> list[str]:
    uploads = server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    blobs = "registry/blobs/"
    return sorted(
        [k for k in objects(server, bucket) if not k.startswith(blobs)]
        + [f"multipart:{u['Key']}" for u in uploads]
    )


def state_of(server: MotoServer, bucket: str, key: str) -> dict[str, Any]:
    raw = server.client().get_object(Bucket=bucket, Key=f"registry/uploads/{key}/state.json")
    return json.loads(raw["Body"].read())


# -- part boundaries and several nodes --------------------------------------------------------


def test_chunks_of_any_size_cross_part_boundaries_on_two_nodes(moto_server, bucket, make_store):
    """Chunks of 1 KiB..7 MiB, alternating between two nodes, assemble into 5 MiB parts."""
    rng = random.Random(7)
    sizes = [KiB, 7 * MiB, 3000, 5 * MiB, 5 * MiB - 1, 1, 2 * MiB + 7, 6 * MiB, 4 * KiB, 7 * MiB]
    pieces = [rng.randbytes(n) for n in sizes]
    data = b"".join(pieces)
    digest = Digest.of(data)

    async def scenario():
        nodes = [make_store(part_size=5 * MiB), make_store(part_size=5 * MiB)]
        key = await nodes[0].start_upload()
        offset = 0
        for i, piece in enumerate(pieces):
            node, other = nodes[i % 2], nodes[(i + 1) % 2]
            assert await node.upload_size(key) == offset
            # Request bodies arrive in small pieces; sometimes one big one.
            offset = await node.append(
                key, offset, chunks(piece, piece=64 * KiB if i % 3 else None)
            )
            assert offset == sum(sizes[: i + 1])
            assert await other.upload_size(key) == offset
            state = state_of(moto_server, bucket, key)
            assert all(size >= 5 * MiB for _, _, size in state["parts"])
            assert state["tail_size"] < 5 * MiB
            assert sum(s for _, _, s in state["parts"]) + state["tail_size"] == offset
        assert len(state_of(moto_server, bucket, key)["parts"]) >= 6
        assert await nodes[1].hash_upload(key, "sha256") == digest.hex
        assert await nodes[0].commit(key, digest) == len(data)
        assert await read_all(nodes[1], digest) == data
        assert (
            await read_all(nodes[0], digest, 5 * MiB - 3, 10 * MiB + 5)
            == data[5 * MiB - 3 : 10 * MiB + 5]
        )

    asyncio.run(scenario())
    assert leftovers(moto_server, bucket) == []


def test_two_nodes_racing_with_full_parts_one_wins(moto_server, bucket, make_store):
    """Both racers upload parts into the same multipart upload: part numbers are reserved,
    so the loser cannot overwrite the winner's parts (completion would then fail)."""
    first = random.Random(1).randbytes(6 * MiB)
    a_bytes, b_bytes = b"a" * (11 * MiB), b"b" * (11 * MiB)

    async def scenario():
        a, b = make_store(part_size=5 * MiB), make_store(part_size=5 * MiB)
        key = await a.start_upload()
        await a.append(key, 0, chunks(first))
        assert state_of(moto_server, bucket, key)["upload_id"]

        async def slow(data: bytes) -> AsyncIterator[bytes]:
            for i in range(0, len(data), 512 * KiB):
                await asyncio.sleep(0.01)
                yield data[i : i + 512 * KiB]

        results = await asyncio.gather(
            a.append(key, len(first), slow(a_bytes)),
            b.append(key, len(first), slow(b_bytes)),
            return_exceptions=True,
        )
        sizes = [r for r in results if isinstance(r, int)]
        errors = [r for r in results if isinstance(r, BaseException)]
        assert sizes == [len(first) + 11 * MiB], results
        assert len(errors) == 1 and isinstance(errors[0], OffsetMismatchError)
        winner = a_bytes if isinstance(results[0], int) else b_bytes
        digest = Digest.of(first + winner)
        assert await b.hash_upload(key, "sha256") == digest.hex
        assert await a.commit(key, digest) == len(first) + len(winner)
        assert await read_all(b, digest) == first + winner

    asyncio.run(scenario())
    assert leftovers(moto_server, bucket) == []


def test_hash_then_append_reopens_the_upload_and_large_copies(moto_server, bucket, make_store):
    """hash_upload completes the multipart upload; later appends reopen it (server-side
    part copies), and a blob above the copy limit is committed by a multipart copy."""
    rng = random.Random(3)
    big, more, end = rng.randbytes(23 * MiB), rng.randbytes(3 * MiB), b"the end"
    small = rng.randbytes(1000)

    async def scenario():
        store = make_store(part_size=5 * MiB, max_copy_size=10 * MiB)
        key = await store.start_upload()
        await store.append(key, 0, chunks(big, piece=MiB))
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(big).hexdigest()
        assert state_of(moto_server, bucket, key)["staged"]
        size = await store.append(key, len(big), chunks(more))
        assert len(state_of(moto_server, bucket, key)["parts"]) >= 3  # copied ranges + new
        assert await store.hash_upload(key, "sha512") == hashlib.sha512(big + more).hexdigest()
        size = await store.append(key, size, chunks(end))
        whole = big + more + end
        digest = Digest.of(whole)
        assert await store.commit(key, digest) == len(whole)  # 26 MiB > 10 MiB: multipart copy
        assert await read_all(store, digest) == whole

        # A small staged upload goes back to being a tail.
        key = await store.start_upload()
        await store.append(key, 0, chunks(small))
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(small).hexdigest()
        await store.append(key, len(small), chunks(b"+"))
        assert state_of(moto_server, bucket, key)["staged"] is None
        assert await store.commit(key, Digest.of(small + b"+")) == len(small) + 1

    asyncio.run(scenario())
    assert leftovers(moto_server, bucket) == []


# -- sending blobs ----------------------------------------------------------------------------


def test_presigned_redirect_serves_the_exact_bytes(make_store):
    data = random.Random(5).randbytes(3 * MiB + 11)
    digest = Digest.of(data)

    async def scenario():
        store = make_store(presign_redirects=True, presign_ttl_seconds=60)
        key = await store.start_upload()
        await store.append(key, 0, chunks(data))
        await store.commit(key, digest)
        body = await store.body(digest)
        assert body.size == len(data) and body.path is None and not body.stream
        assert body.redirect_url and "X-Amz-Signature=" in body.redirect_url
        async with httpx.AsyncClient() as client:
            response = await client.get(body.redirect_url)
        assert response.status_code == 200
        assert response.content == data

        streaming = make_store(presign_redirects=False)
        body = await streaming.body(digest)
        assert body.stream and body.redirect_url is None and body.size == len(data)

    asyncio.run(scenario())


# -- the endpoint goes away -------------------------------------------------------------------


@pytest.fixture
def proxy(moto_server: MotoServer):
    p = TcpProxy(moto_server.port)
    p.up()
    yield p
    p.down()


def test_endpoint_down_is_unavailable_and_nothing_becomes_visible(
    moto_server, bucket, make_store, proxy
):
    data = random.Random(9).randbytes(12 * MiB)
    digest = Digest.of(data)

    async def cut_midway() -> AsyncIterator[bytes]:
        for i in range(0, len(data) - MiB, MiB):
            if i == 7 * MiB:  # after the first part went up
                proxy.down()
            yield data[i : i + MiB]

    async def scenario():
        store = make_store(proxy.endpoint_url, part_size=5 * MiB, max_attempts=1, read_timeout=5.0)
        key = await store.start_upload()
        assert await store.append(key, 0, chunks(data[:MiB])) == MiB

        # Cut during an append: the upload stays where it was.
        with pytest.raises(UnavailableError):
            await store.append(key, MiB, cut_midway())
        # Everything fails cleanly while the endpoint is away.
        for call in (
            lambda: store.upload_size(key),
            lambda: store.append(key, MiB, chunks(b"x")),
            lambda: store.hash_upload(key, "sha256"),
            lambda: store.commit(key, digest),
            lambda: store.stat(digest),
            lambda: store.start_upload(),
            lambda: store.list_uploads(),
        ):
            with pytest.raises(S3UnavailableError):
                await call()
        with pytest.raises(StorageError):
            await store.check()

        proxy.up()
        assert await store.upload_size(key) == MiB
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(data[:MiB]).hexdigest()
        assert await store.stat(digest) is None
        assert not [k for k in objects(moto_server, bucket) if "/blobs/" in k]

        # The client retries and finishes.
        assert await store.append(key, MiB, chunks(data[MiB:], piece=MiB)) == len(data)
        proxy.down()
        with pytest.raises(UnavailableError):
            await store.commit(key, digest)
        proxy.up()
        assert await store.stat(digest) is None
        assert await store.commit(key, digest) == len(data)
        assert await read_all(store, digest) == data

    asyncio.run(scenario())
    assert leftovers(moto_server, bucket) == []


def test_closed_port_is_unavailable(make_store):
    closed = TcpProxy(1)  # only for a free port number; never listening

    async def scenario():
        store = make_store(closed.endpoint_url, max_attempts=1, connect_timeout=2.0)
        with pytest.raises(S3UnavailableError) as info:
            await store.start_upload()
        assert isinstance(info.value, UnavailableError) and isinstance(info.value, StorageError)
        with pytest.raises(UnavailableError):
            await store.stat(Digest.of(b"x"))
        with pytest.raises(StorageError):
            await store.check()

    asyncio.run(scenario())


# -- housekeeping -----------------------------------------------------------------------------


def test_list_uploads_reports_stray_objects_so_they_are_reclaimed(moto_server, bucket, make_store):
    """Objects a failed node left under uploads/<key>/ without a state are listed (and
    cancel removes them), so the upload purge reclaims them."""
    key = secrets.token_hex(16)
    moto_server.client().put_object(
        Bucket=bucket, Key=f"registry/uploads/{key}/tail-0123", Body=b"stray"
    )

    async def scenario():
        store = make_store()
        assert [k for k, _ in await store.list_uploads()] == [key]
        await store.cancel(key)
        assert await store.list_uploads() == []

    asyncio.run(scenario())
    assert leftovers(moto_server, bucket) == []


def test_settings_select_the_s3_driver(tmp_path):
    from dockyard.bootstrap import make_blob_store

    settings = Settings(
        data_dir=tmp_path,
        storage="s3://my-bucket/some/prefix/",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_path_style=True,
        s3_presign_redirects=True,
        s3_secret_access_key="secret",
        s3_part_size_mib=16,
    )
    store = make_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == "my-bucket" and store.prefix == "some/prefix/"
    assert store.config.secret_access_key == "secret"
    assert store.config.part_size == 16 * MiB and store.config.presign_redirects
    assert make_blob_store(Settings(data_dir=tmp_path)).name == "filesystem"
    with pytest.raises(ValueError, match="s3://"):
        Settings(data_dir=tmp_path, storage="gs://bucket")
