"""The conformance suite every BlobStore driver must pass (drivers: see conftest.py).

Tests are plain functions that run one coroutine with ``asyncio.run``; the ``driver``
fixture gives a fresh, empty store per test, parametrised over every driver.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import time
from collections.abc import AsyncIterator, Iterable

import pytest

from dockyard.errors import StorageFullError
from dockyard.oci.digest import Digest
from dockyard.storage.base import (
    BlobStore,
    OffsetMismatchError,
    StorageError,
    UploadMissingError,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


class ChunkSourceFailed(Exception):
    """Raised by a test chunk iterator to simulate a client that goes away mid-request."""


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing_chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise ChunkSourceFailed("client went away")


async def read_all(
    store: BlobStore, digest: Digest, start: int = 0, end: int | None = None
) -> bytes:
    out = bytearray()
    async for data in store.open_stream(digest, start, end):
        out += data
    return bytes(out)


async def upload_bytes(store: BlobStore, data: bytes) -> str:
    key = await store.start_upload()
    assert await store.append(key, 0, chunks(data)) == len(data)
    return key


def deterministic_blocks(count: int, size: int = MiB, seed: int = 1234) -> Iterable[bytes]:
    """``count`` different blocks of ``size`` bytes, the same on every run, one at a time."""
    base = random.Random(seed).randbytes(size)
    for i in range(count):
        yield i.to_bytes(8, "big") + base[8:]


def deterministic_block(index: int, size: int = MiB, seed: int = 1234) -> bytes:
    """Block ``index`` of ``deterministic_blocks(..., size, seed)``."""
    return index.to_bytes(8, "big") + random.Random(seed).randbytes(size)[8:]


# -- the basic lifecycle ---------------------------------------------------------------------


def test_start_append_commit_stat_body_stream(driver):
    store = driver.store
    data = b"hello, blob store\n" * 1000
    digest = Digest.of(data)

    async def scenario():
        key = await store.start_upload()
        assert isinstance(key, str) and key
        assert await store.upload_size(key) == 0
        assert await store.stat(digest) is None

        assert await store.append(key, 0, chunks(data[:100], data[100:5000])) == 5000
        assert await store.upload_size(key) == 5000
        assert await store.append(key, 5000, chunks(data[5000:])) == len(data)
        assert await store.upload_size(key) == len(data)

        assert await store.commit(key, digest) == len(data)
        assert await store.stat(digest) == len(data)
        body = await store.body(digest)
        assert body.size == len(data)
        if body.path is not None:
            assert body.path.read_bytes() == data
        else:
            assert body.redirect_url
        assert await read_all(store, digest) == data
        # The upload is consumed by the commit.
        with pytest.raises(UploadMissingError):
            await store.upload_size(key)

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, 0),
        (0, 1),
        (1, 10),
        (100, None),
        (MiB - 3, MiB + 5),  # across the driver's read chunk boundary
        (MiB + 5, 2 * MiB + 100),  # an end past the blob stops at the blob's end
        (2 * MiB + 99, None),  # the last byte
        (2 * MiB + 100, None),  # start at the end: nothing
    ],
)
def test_open_stream_ranges(driver, start, end):
    store = driver.store
    data = b"".join(deterministic_blocks(2)) + bytes(range(100))
    digest = Digest.of(data)

    async def scenario():
        key = await upload_bytes(store, data)
        await store.commit(key, digest)
        return await read_all(store, digest, start, end)

    assert asyncio.run(scenario()) == data[start:end]


def test_empty_blob(driver):
    store = driver.store
    digest = Digest.of(b"")

    async def scenario():
        key = await store.start_upload()
        assert await store.append(key, 0, chunks()) == 0
        assert await store.append(key, 0, chunks(b"", b"")) == 0
        assert await store.commit(key, digest) == 0
        assert await store.stat(digest) == 0
        assert (await store.body(digest)).size == 0
        assert await read_all(store, digest) == b""

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_missing_blob(driver):
    store = driver.store
    digest = Digest.of(b"never stored")

    async def scenario():
        assert await store.stat(digest) is None
        with pytest.raises(StorageError):
            await store.body(digest)
        with pytest.raises(StorageError):
            await read_all(store, digest)
        await store.delete(digest)  # absent: ignored

    asyncio.run(scenario())


def test_delete(driver):
    store = driver.store
    data = b"to be deleted"
    digest = Digest.of(data)

    async def scenario():
        await store.commit(await upload_bytes(store, data), digest)
        assert await store.stat(digest) == len(data)
        await store.delete(digest)
        assert await store.stat(digest) is None
        with pytest.raises(StorageError):
            await store.body(digest)
        await store.delete(digest)  # twice: ignored

    asyncio.run(scenario())


# -- offsets and resumption ------------------------------------------------------------------


@pytest.mark.parametrize("wrong_offset", [0, 3, 11, 1000])
def test_append_at_wrong_offset_writes_nothing(driver, wrong_offset):
    store = driver.store
    consumed = []

    async def tracked() -> AsyncIterator[bytes]:
        consumed.append(True)
        yield b"X" * 64

    async def scenario():
        key = await upload_bytes(store, b"0123456789")
        with pytest.raises(OffsetMismatchError) as info:
            await store.append(key, wrong_offset, tracked())
        assert info.value.expected == 10
        assert info.value.got == wrong_offset
        assert await store.upload_size(key) == 10
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(b"0123456789").hexdigest()
        # The upload is still usable at the right offset.
        assert await store.append(key, 10, chunks(b"abc")) == 13
        await store.commit(key, Digest.of(b"0123456789abc"))
        assert await read_all(store, Digest.of(b"0123456789abc")) == b"0123456789abc"

    asyncio.run(scenario())
    assert consumed == []  # the request body was never read


def test_append_resumed_in_chunks_across_workers(driver):
    """Chunks go to different store instances (workers) sharing the backend."""
    data = b"".join(deterministic_blocks(3, size=300_000))
    cuts = [0, 1, 4096, 250_000, 600_001, 899_999, len(data)]
    digest = Digest.of(data)

    async def scenario():
        workers = [driver.store, driver.reopen(), driver.reopen()]
        key = await workers[0].start_upload()
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            worker = workers[i % len(workers)]
            assert await worker.upload_size(key) == a
            assert await worker.append(key, a, chunks(data[a:b])) == b
        other = workers[1]
        assert await other.upload_size(key) == len(data)
        assert await other.hash_upload(key, "sha256") == digest.hex
        assert await other.commit(key, digest) == len(data)
        assert await workers[2].stat(digest) == len(data)
        assert await read_all(workers[0], digest) == data

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_concurrent_appends_at_same_offset_one_wins(driver):
    """Two workers append at the same offset at once: exactly one chunk lands."""

    async def scenario():
        a, b = driver.store, driver.reopen()
        key = await a.start_upload()

        async def slow(byte: bytes) -> AsyncIterator[bytes]:
            for _ in range(8):
                await asyncio.sleep(0.005)
                yield byte * 1000

        results = await asyncio.gather(
            a.append(key, 0, slow(b"a")), b.append(key, 0, slow(b"b")), return_exceptions=True
        )
        sizes = [r for r in results if isinstance(r, int)]
        errors = [r for r in results if isinstance(r, BaseException)]
        assert sizes == [8000]
        assert len(errors) == 1 and isinstance(errors[0], OffsetMismatchError)
        content = hashlib.sha256(b"a" * 8000).hexdigest(), hashlib.sha256(b"b" * 8000).hexdigest()
        assert await a.hash_upload(key, "sha256") in content
        await a.cancel(key)

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


# -- hashing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_hashers_fed_while_streaming(driver, algorithm):
    store = driver.store
    parts = [b"", b"a", b"bc" * 1000, *deterministic_blocks(2, size=MiB + 17), b"tail"]
    whole = b"".join(parts)

    async def scenario():
        key = await store.start_upload()
        running, second = hashlib.new(algorithm), hashlib.new(algorithm)
        size = 0
        # Two appends continuing the same hash objects, two hashers at once.
        size = await store.append(key, size, chunks(*parts[:3]), [running, second])
        size = await store.append(key, size, chunks(*parts[3:]), [running, second])
        assert size == len(whole)
        expected = hashlib.new(algorithm, whole).hexdigest()
        assert running.hexdigest() == expected
        assert second.hexdigest() == expected
        # hash_upload rebuilds the same state from the stored bytes.
        assert await store.hash_upload(key, algorithm) == expected
        assert await driver.reopen().hash_upload(key, algorithm) == expected
        digest = Digest(algorithm, expected)
        assert await store.commit(key, digest) == len(whole)
        assert await read_all(store, digest) == whole

    asyncio.run(scenario())


def test_hash_upload_of_empty_and_partial_upload(driver):
    store = driver.store

    async def scenario():
        key = await store.start_upload()
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(b"").hexdigest()
        await store.append(key, 0, chunks(b"part one"))
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(b"part one").hexdigest()
        await store.append(key, 8, chunks(b", part two"))
        assert (
            await store.hash_upload(key, "sha512")
            == hashlib.sha512(b"part one, part two").hexdigest()
        )
        await store.cancel(key)

    asyncio.run(scenario())


# -- commit ----------------------------------------------------------------------------------


def test_commit_is_idempotent(driver):
    store = driver.store
    data = b"same bytes"
    digest = Digest.of(data)

    async def scenario():
        key = await upload_bytes(store, data)
        assert await store.commit(key, digest) == len(data)
        # The same key again (a retried request): the blob is there, fine.
        assert await store.commit(key, digest) == len(data)
        # A second upload of the same content commits onto the existing blob.
        key2 = await upload_bytes(store, data)
        assert await store.commit(key2, digest) == len(data)
        with pytest.raises(UploadMissingError):
            await store.upload_size(key2)
        assert await read_all(store, digest) == data

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_concurrent_commits_of_identical_content(driver):
    data = b"".join(deterministic_blocks(2, size=512 * 1024))
    digest = Digest.of(data)

    async def scenario():
        a, b = driver.store, driver.reopen()
        keys = [await upload_bytes(a, data) for _ in range(2)] + [
            await upload_bytes(b, data) for _ in range(2)
        ]
        sizes = await asyncio.gather(
            a.commit(keys[0], digest),
            b.commit(keys[1], digest),
            a.commit(keys[2], digest),
            b.commit(keys[3], digest),
        )
        assert sizes == [len(data)] * 4
        assert await a.stat(digest) == len(data)
        assert hashlib.sha256(await read_all(b, digest)).hexdigest() == digest.hex
        for key in keys:
            with pytest.raises(UploadMissingError):
                await a.upload_size(key)

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_commit_of_unknown_upload(driver):
    store = driver.store

    async def scenario():
        with pytest.raises(UploadMissingError):
            await store.commit(driver.unknown_key, Digest.of(b"nothing here"))

    asyncio.run(scenario())


# -- cancel and unknown keys -----------------------------------------------------------------


def test_cancel(driver):
    store = driver.store

    async def scenario():
        key = await upload_bytes(store, b"abandoned")
        await store.cancel(key)
        with pytest.raises(UploadMissingError):
            await store.upload_size(key)
        with pytest.raises(UploadMissingError):
            await store.append(key, 9, chunks(b"more"))
        await store.cancel(key)  # already gone: fine
        await store.cancel(driver.unknown_key)  # never existed: fine
        assert key not in [k for k, _ in await store.list_uploads()]

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_unknown_upload_key(driver):
    store = driver.store
    key = driver.unknown_key

    async def scenario():
        with pytest.raises(UploadMissingError):
            await store.upload_size(key)
        with pytest.raises(UploadMissingError):
            await store.append(key, 0, chunks(b"x"))
        with pytest.raises(UploadMissingError):
            await store.hash_upload(key, "sha256")

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_upload_keys_are_unique(driver):
    async def scenario():
        return await asyncio.gather(*(driver.store.start_upload() for _ in range(20)))

    keys = asyncio.run(scenario())
    assert len(set(keys)) == 20


# -- all-or-nothing chunks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent_before_failure",
    [0, 1, 4096, 3 * MiB + 5],  # nothing, a little, and more than a write batch
)
def test_failing_chunk_iterator_leaves_previous_size(driver, sent_before_failure):
    store = driver.store
    first = b"first chunk, committed"
    partial = b"".join(deterministic_blocks(4))[:sent_before_failure]

    async def scenario():
        key = await upload_bytes(store, first)
        hasher = hashlib.sha256()
        pieces = [partial[i : i + 100_000] for i in range(0, len(partial), 100_000)]
        with pytest.raises(ChunkSourceFailed):
            await store.append(key, len(first), failing_chunks(pieces), [hasher])
        assert await store.upload_size(key) == len(first)
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(first).hexdigest()
        # The client retries the chunk from the same offset and it works.
        rest = b" and the rest"
        assert await store.append(key, len(first), chunks(rest)) == len(first + rest)
        digest = Digest.of(first + rest)
        await store.commit(key, digest)
        assert await read_all(store, digest) == first + rest

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_cancelled_append_task_leaves_previous_size(driver):
    """A request task cancelled mid-body (client disconnect) also writes nothing."""
    store = driver.store

    async def scenario():
        key = await upload_bytes(store, b"kept")
        started = asyncio.Event()

        async def endless() -> AsyncIterator[bytes]:
            for block in deterministic_blocks(1000):
                started.set()
                yield block
                await asyncio.sleep(0)

        task = asyncio.create_task(store.append(key, 4, endless()))
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.upload_size(key) == 4
        await store.cancel(key)

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


# -- a large blob ----------------------------------------------------------------------------


def test_100_mib_streamed_append_commit_read_back(driver):
    store = driver.store
    blocks = 100
    generated = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for block in deterministic_blocks(blocks, seed=99):
            generated.update(block)
            # Yield in request-sized pieces, as an HTTP body arrives.
            for i in range(0, len(block), 256 * 1024):
                yield block[i : i + 256 * 1024]

    async def scenario():
        key = await store.start_upload()
        fed = hashlib.sha256()
        size = await store.append(key, 0, body(), [fed])
        assert size == blocks * MiB
        assert fed.hexdigest() == generated.hexdigest()
        digest = Digest("sha256", generated.hexdigest())
        assert await store.commit(key, digest) == size
        assert await store.stat(digest) == size

        read_back, total, largest = hashlib.sha256(), 0, 0
        async for data in store.open_stream(digest):
            read_back.update(data)
            total += len(data)
            largest = max(largest, len(data))
        assert total == size
        assert read_back.hexdigest() == digest.hex
        assert largest <= 8 * MiB  # streamed, not loaded whole

        # A range in the middle matches the generator's bytes there.
        block_no = 57
        expected_block = deterministic_block(block_no, seed=99)
        middle = await read_all(store, digest, block_no * MiB + 10, block_no * MiB + 1000)
        assert middle == expected_block[10:1000]

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 45
    assert driver.leftover_uploads() == []


# -- listing, probing, leftovers -------------------------------------------------------------


def test_list_uploads(driver):
    store = driver.store

    async def scenario():
        assert await store.list_uploads() == []
        before = time.time()
        k1 = await store.start_upload()
        k2 = await upload_bytes(store, b"some bytes")
        k3 = await store.start_upload()
        listed = dict(await store.list_uploads())
        assert set(listed) == {k1, k2, k3}
        for mtime in listed.values():
            assert isinstance(mtime, float)
            assert before - 5 <= mtime <= time.time() + 5
        # Another worker sees the same uploads.
        assert set(dict(await driver.reopen().list_uploads())) == {k1, k2, k3}

        await store.commit(k2, Digest.of(b"some bytes"))
        await store.cancel(k3)
        assert [k for k, _ in await store.list_uploads()] == [k1]
        await store.cancel(k1)
        assert await store.list_uploads() == []

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


def test_list_blobs(driver):
    """Every committed blob with its size and modification time (GC's orphan sweep)."""
    store = driver.store
    first, second = b"first blob", b"the second blob"

    async def scenario():
        assert await store.list_blobs() == []
        before = time.time()
        for data in (first, second):
            await store.commit(await upload_bytes(store, data), Digest.of(data))
        await store.start_upload()  # an upload in progress is not a blob
        listed = {blob.digest: blob for blob in await driver.reopen().list_blobs()}
        assert {d: b.size for d, b in listed.items()} == {
            Digest.of(first): len(first),
            Digest.of(second): len(second),
        }
        for blob in listed.values():
            assert before - 5 <= blob.modified <= time.time() + 5
        await store.delete(Digest.of(first))
        assert [b.digest for b in await store.list_blobs()] == [Digest.of(second)]

    asyncio.run(scenario())


def test_check(driver):
    async def scenario():
        for _ in range(3):
            assert await driver.store.check() is None
        assert await driver.reopen().check() is None

    asyncio.run(scenario())
    assert driver.leftover_probes() == []


def test_nothing_left_behind(driver):
    """After a mix of commits, cancels, failures and mismatches, no upload state remains."""
    store = driver.store

    async def scenario():
        committed = await upload_bytes(store, b"one")
        await store.commit(committed, Digest.of(b"one"))
        duplicate = await upload_bytes(store, b"one")
        await store.commit(duplicate, Digest.of(b"one"))
        cancelled = await upload_bytes(store, b"two")
        with pytest.raises(OffsetMismatchError):
            await store.append(cancelled, 0, chunks(b"x"))
        with pytest.raises(ChunkSourceFailed):
            await store.append(cancelled, 3, failing_chunks([b"yyy"]))
        await store.cancel(cancelled)
        empty = await store.start_upload()
        await store.cancel(empty)
        assert driver.leftover_uploads() == []
        pending = await store.start_upload()
        assert driver.leftover_uploads() != []  # the hook does see live uploads
        await store.cancel(pending)

    asyncio.run(scenario())
    assert driver.leftover_uploads() == []


# -- filesystem only: running out of space ----------------------------------------------------


def test_filesystem_disk_full_maps_to_storage_full(tiny_filesystem_store):
    store = tiny_filesystem_store
    first = b"f" * (256 * 1024)

    async def scenario():
        key = await upload_bytes(store, first)
        with pytest.raises(StorageFullError):
            await store.append(key, len(first), chunks(*deterministic_blocks(2)))
        assert await store.upload_size(key) == len(first)
        assert await store.hash_upload(key, "sha256") == hashlib.sha256(first).hexdigest()
        # Space was given back: a small chunk still fits, and the upload commits.
        assert await store.append(key, len(first), chunks(b"end")) == len(first) + 3
        digest = Digest.of(first + b"end")
        assert await store.commit(key, digest) == len(first) + 3
        assert await read_all(store, digest) == first + b"end"
        assert await store.list_uploads() == []

    asyncio.run(scenario())
