"""ContentService + TenancyService in process, on a real database and filesystem store.

Every test runs twice: on a SQLite file and on a real PostgreSQL (``tests/pgserver.py``).

Each test is a plain function running one coroutine with ``asyncio.run``. "Workers" are
separate ContentService instances, each with its own Database engines and store object,
sharing the SQLite file and the storage root — as the worker processes of one server do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dockyard.errors import EditionRequiredError
from dockyard.metadata import migrate
from dockyard.metadata.models import (
    Account,
    Blob,
    Instance,
    Manifest,
    OutboxEvent,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
)
from dockyard.metadata.queries import content as content_queries
from dockyard.metadata.queries import tenancy as tenancy_queries
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import NameInvalidError, RepositoryName, TagInvalidError
from dockyard.services.audit import AuditLog
from dockyard.services.content import (
    IMMUTABLE_TAG_MESSAGE,
    BlobUnknownError,
    BulkService,
    ContentService,
    DigestInvalidError,
    ImmutableTagError,
    ManifestBlobUnknownError,
    ManifestUnknownError,
    RangeInvalidError,
    UploadUnknownError,
)
from dockyard.services.tenancy import NonconformingNames, RepositoryRef, TenancyService
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

TTL = timedelta(hours=1)
INSTANCE = "default"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


class CountingStore(FilesystemBlobStore):
    """The filesystem store, counting how often an upload's hash is rebuilt from disk."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.hash_rebuilds = 0

    async def hash_upload(self, key: str, algorithm: str) -> str:
        self.hash_rebuilds += 1
        return await super().hash_upload(key, algorithm)


class Worker:
    def __init__(self, url: str, root: Path) -> None:
        self.db = Database(url)
        self.store = CountingStore(root)
        self.content = ContentService(self.db, self.store, TTL)
        self.tenancy = TenancyService(self.db, AuditLog(self.db))


class World:
    """A migrated database, a storage root, and any number of workers over them."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root
        self.workers: list[Worker] = []

    def worker(self) -> Worker:
        w = Worker(self.url, self.root)
        self.workers.append(w)
        return w

    async def __aenter__(self) -> World:
        w = self.worker()
        self.db, self.store, self.content, self.tenancy = w.db, w.store, w.content, w.tenancy
        async with self.db.write() as session:
            account = Account(arn_id="1234567890123456", name="test")
            session.add(account)
            await session.flush()
            session.add(
                Instance(
                    id=INSTANCE,
                    account_id=account.id,
                    name="default",
                    region="local",
                    edition="Advanced",
                )
            )
        self.repo = await self.repository("ns/app")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self.workers:
            await w.db.dispose()

    async def repository(self, name: str) -> RepositoryRef:
        return await self.tenancy.ensure_repository(INSTANCE, RepositoryName.parse(name))

    # -- inspection ---------------------------------------------------------------------

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.read() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return (await session.execute(stmt)).scalar_one()

    async def events(self) -> Counter[str]:
        async with self.db.read() as session:
            types = (await session.execute(select(OutboxEvent.type))).scalars().all()
        return Counter(types)

    async def event_payloads(self, type_: str) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            stmt = select(OutboxEvent).where(OutboxEvent.type == type_)
            rows = (await session.execute(stmt.order_by(OutboxEvent.created_at))).scalars().all()
        assert all(r.instance_id == INSTANCE for r in rows)
        return [r.payload for r in rows]

    async def storage_key(self, upload_id: uuid.UUID) -> str:
        async with self.db.read() as session:
            row = await session.get(Upload, upload_id)
        assert row is not None
        return row.storage_key

    def upload_files(self) -> list[str]:
        return sorted(p.name for p in (self.root / "uploads").iterdir())

    def blob_files(self) -> list[str]:
        return sorted(p.name for p in (self.root / "blobs").rglob("*") if p.is_file())

    # -- content ------------------------------------------------------------------------

    async def push_blob(self, data: bytes, repo: RepositoryRef | None = None) -> str:
        digest = sha256(data)
        assert await self.content.monolithic_upload(repo or self.repo, digest, body(data)) == len(
            data
        )
        return digest

    async def image(self, seed: str, repo: RepositoryRef | None = None, **extra: Any) -> bytes:
        """Push a config and a layer; return the bytes of a manifest naming them."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layer = f"layer of {seed}".encode() * 50
        doc = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptor(mt.OCI_IMAGE_CONFIG, await self.push_blob(config, repo), config),
            "layers": [descriptor(LAYER_TYPE, await self.push_blob(layer, repo), layer)],
            **extra,
        }
        return json.dumps(doc).encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    """A migrated database (a SQLite file, or a fresh PostgreSQL database) and a store."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
    else:
        url = request.getfixturevalue("pg_migrated_url")
    return World(url, tmp_path / "storage")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, digest: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


async def body(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_stream(stream: AsyncIterator[bytes]) -> bytes:
    out = bytearray()
    async for data in stream:
        out += data
    return bytes(out)


# -- blobs and uploads -----------------------------------------------------------------------


def test_monolithic_upload(world):
    data = os.urandom(300_000)

    async def scenario():
        async with world as w:
            digest = sha256(data)
            size = await w.content.monolithic_upload(w.repo, digest, body(data[:1000], data[1000:]))
            assert size == len(data)
            assert await w.content.stat_blob(w.repo, digest) == len(data)
            blob = await w.content.blob_body(w.repo, digest)
            assert blob.size == len(data) and blob.path is not None
            assert blob.path.read_bytes() == data
            assert await read_stream(w.content.blob_stream(digest, 10, 2000)) == data[10:2000]
            assert await w.count(Blob) == 1
            assert await w.count(RepositoryBlob) == 1
            assert await w.count(Upload) == 0
            assert w.upload_files() == []
            assert (await w.events())["BlobPushed"] == 1
            # Visible only in the repository it was pushed to.
            other = await w.repository("ns/other")
            with pytest.raises(BlobUnknownError):
                await w.content.stat_blob(other, digest)
            with pytest.raises(BlobUnknownError):
                await w.content.blob_body(other, digest)
            # Pushing the same blob again is fine and keeps one row.
            await w.content.monolithic_upload(w.repo, digest, body(data))
            assert await w.count(Blob) == 1
            assert await w.count(RepositoryBlob) == 1

    asyncio.run(scenario())


def test_monolithic_upload_digest_mismatch_stores_nothing(world):
    async def scenario():
        async with world as w:
            with pytest.raises(DigestInvalidError):
                await w.content.monolithic_upload(w.repo, sha256(b"expected"), body(b"actual"))
            with pytest.raises(DigestInvalidError):
                await w.content.monolithic_upload(w.repo, "sha256:nothex", body(b"actual"))
            with pytest.raises(DigestInvalidError):
                await w.content.stat_blob(w.repo, "md5:abc")
            assert await w.count(Blob) == 0
            assert await w.count(RepositoryBlob) == 0
            assert w.blob_files() == []
            assert w.upload_files() == []
            assert (await w.events())["BlobPushed"] == 0

    asyncio.run(scenario())


def test_chunked_upload_on_one_worker_uses_running_hash(world):
    data = os.urandom(200_000)

    async def scenario():
        async with world as w:
            state = await w.content.start_upload(w.repo)
            assert state.size == 0
            uid = str(state.id)
            assert (await w.content.append(w.repo, uid, body(data[:70_000]), 0)).size == 70_000
            assert (await w.content.upload_status(w.repo, uid)).size == 70_000
            assert (
                await w.content.append(w.repo, uid, body(data[70_000:150_000]), None)
            ).size == 150_000
            size = await w.content.finish_upload(w.repo, uid, sha256(data), body(data[150_000:]))
            assert size == len(data)
            assert w.store.hash_rebuilds == 0  # the running hash was enough
            assert await w.content.stat_blob(w.repo, sha256(data)) == len(data)
            assert await w.count(Upload) == 0
            assert w.upload_files() == []
            with pytest.raises(UploadUnknownError):
                await w.content.upload_status(w.repo, uid)

    asyncio.run(scenario())


def test_chunked_upload_across_workers_rebuilds_hash(world):
    data = os.urandom(3 * 1024 * 1024 + 7)
    a_end, b_end = 1024 * 1024 + 3, 2 * 1024 * 1024 + 5

    async def scenario():
        async with world as w:
            a, b = w.workers[0], w.worker()
            uid = str((await a.content.start_upload(w.repo)).id)
            assert (await a.content.append(w.repo, uid, body(data[:a_end]), 0)).size == a_end
            # Chunk 2 reaches worker B, which has no hash state for this upload.
            assert (await b.content.upload_status(w.repo, uid)).size == a_end
            assert (
                await b.content.append(w.repo, uid, body(data[a_end:b_end]), a_end)
            ).size == b_end
            # A chunk at the wrong offset is refused with the current size.
            with pytest.raises(RangeInvalidError) as info:
                await b.content.append(w.repo, uid, body(b"zzz"), a_end)
            assert info.value.current_size == b_end
            # The last chunk and the digest reach worker A, whose hash state is stale.
            size = await a.content.finish_upload(w.repo, uid, sha256(data), body(data[b_end:]))
            assert size == len(data)
            assert a.store.hash_rebuilds == 1
            assert b.store.hash_rebuilds == 0
            blob = await b.content.blob_body(w.repo, sha256(data))
            assert blob.path is not None
            assert hashlib.sha256(blob.path.read_bytes()).hexdigest() == sha256(data)[7:]
            assert await w.count(Blob) == 1
            assert await w.count(Upload) == 0
            assert w.upload_files() == []

    asyncio.run(scenario())


def test_chunked_upload_digest_mismatch_stores_nothing(world):
    data = b"chunk one|" + b"chunk two"

    async def scenario():
        async with world as w:
            a, b = w.workers[0], w.worker()
            uid = str((await a.content.start_upload(w.repo)).id)
            await a.content.append(w.repo, uid, body(data[:10]), 0)
            await b.content.append(w.repo, uid, body(data[10:]), 10)
            wrong = sha256(b"something else")
            with pytest.raises(DigestInvalidError):
                await a.content.finish_upload(w.repo, uid, wrong, None)
            assert await w.count(Blob) == 0
            assert await w.count(RepositoryBlob) == 0
            assert await w.count(Upload) == 0
            assert w.blob_files() == []
            assert w.upload_files() == []
            with pytest.raises(UploadUnknownError):
                await b.content.upload_status(w.repo, uid)
            with pytest.raises(UploadUnknownError):
                await a.content.finish_upload(w.repo, uid, sha256(data), None)
            assert (await w.events())["BlobPushed"] == 0

    asyncio.run(scenario())


def test_upload_belongs_to_its_repository_and_cancel(world):
    async def scenario():
        async with world as w:
            other = await w.repository("ns/other")
            state = await w.content.start_upload(w.repo)
            uid = str(state.id)
            await w.content.append(w.repo, uid, body(b"abc"), 0)
            with pytest.raises(UploadUnknownError):
                await w.content.upload_status(other, uid)
            with pytest.raises(UploadUnknownError):
                await w.content.append(other, uid, body(b"def"), 3)
            with pytest.raises(UploadUnknownError):
                await w.content.upload_status(w.repo, "not-a-uuid")
            with pytest.raises(UploadUnknownError):
                await w.content.upload_status(w.repo, str(uuid.uuid4()))
            assert len(w.upload_files()) == 1
            await w.content.cancel_upload(w.repo, uid)
            assert w.upload_files() == []
            assert await w.count(Upload) == 0
            with pytest.raises(UploadUnknownError):
                await w.content.cancel_upload(w.repo, uid)

    asyncio.run(scenario())


def test_mount_and_delete_blob(world):
    async def scenario():
        async with world as w:
            other = await w.repository("ns/other")
            third = await w.repository("team/third")
            digest = await w.push_blob(b"shared layer")
            assert await w.content.mount(other, digest, w.repo) is True
            assert await w.content.stat_blob(other, digest) == len(b"shared layer")
            assert await w.count(Blob) == 1
            assert await w.count(RepositoryBlob) == 2
            # The source must hold the blob; unknown blobs are not mounted.
            assert await w.content.mount(third, digest, await w.repository("ns/empty")) is False
            assert await w.content.mount(third, sha256(b"unknown"), w.repo) is False
            with pytest.raises(BlobUnknownError):
                await w.content.stat_blob(third, digest)
            # Mounting twice is idempotent.
            assert await w.content.mount(other, digest, w.repo) is True
            assert await w.count(RepositoryBlob) == 2
            mounted = await w.event_payloads("BlobMounted")
            assert mounted[0] == {"repository": "ns/other", "digest": digest, "from": "ns/app"}

            await w.content.delete_blob(w.repo, digest)
            with pytest.raises(BlobUnknownError):
                await w.content.stat_blob(w.repo, digest)
            assert await w.content.stat_blob(other, digest) == len(b"shared layer")
            with pytest.raises(BlobUnknownError):
                await w.content.delete_blob(w.repo, digest)
            with pytest.raises(BlobUnknownError):
                await w.content.delete_blob(w.repo, sha256(b"never pushed"))
            assert await w.event_payloads("BlobDeleted") == [
                {"repository": "ns/app", "digest": digest}
            ]

    asyncio.run(scenario())


# -- manifests -------------------------------------------------------------------------------


def test_manifest_put_get_delete(world):
    async def scenario():
        async with world as w:
            manifest = await w.image("one")
            digest = sha256(manifest)
            pushed = await w.content.put_manifest(w.repo, "v1", manifest, mt.OCI_MANIFEST, "alice")
            assert pushed.digest == digest and pushed.subject is None
            for ref in ("v1", digest):
                view = await w.content.get_manifest(w.repo, ref)
                assert (view.digest, view.media_type, view.content) == (
                    digest,
                    mt.OCI_MANIFEST,
                    manifest,
                )
            # By digest (no tag), and a second tag on the same manifest.
            assert (
                await w.content.put_manifest(w.repo, digest, manifest, None, "alice")
            ).digest == digest
            await w.content.put_manifest(w.repo, "v2", manifest, mt.OCI_MANIFEST, "alice")
            assert await w.count(Manifest) == 1
            assert (await w.content.list_tags(w.repo, None, None)) == (["v1", "v2"], False)

            with pytest.raises(DigestInvalidError):
                await w.content.put_manifest(w.repo, sha256(b"other"), manifest, None, "alice")
            with pytest.raises(TagInvalidError):
                await w.content.put_manifest(w.repo, "-bad", manifest, None, "alice")
            with pytest.raises(ManifestUnknownError):
                await w.content.get_manifest(w.repo, "v3")
            with pytest.raises(ManifestUnknownError):
                await w.content.get_manifest(await w.repository("ns/other"), "v1")

            # Delete a tag: only the tag goes.
            await w.content.delete_manifest(w.repo, "v1")
            with pytest.raises(ManifestUnknownError):
                await w.content.get_manifest(w.repo, "v1")
            assert (await w.content.get_manifest(w.repo, "v2")).digest == digest
            with pytest.raises(ManifestUnknownError):
                await w.content.delete_manifest(w.repo, "v1")
            # Delete by digest: the manifest and its remaining tags go.
            await w.content.delete_manifest(w.repo, digest)
            for ref in ("v2", digest):
                with pytest.raises(ManifestUnknownError):
                    await w.content.get_manifest(w.repo, ref)
            with pytest.raises(ManifestUnknownError):
                await w.content.delete_manifest(w.repo, digest)
            assert await w.count(Manifest) == 0
            assert await w.count(Tag) == 0
            assert await w.event_payloads("ManifestDeleted") == [
                {"repository": "ns/app", "digest": digest, "tags": ["v2"]}
            ]

    asyncio.run(scenario())


def test_manifest_must_reference_content_of_its_repository(world):
    async def scenario():
        async with world as w:
            other = await w.repository("ns/other")
            manifest = await w.image("elsewhere", repo=other)  # blobs only in ns/other
            with pytest.raises(ManifestBlobUnknownError) as info:
                await w.content.put_manifest(w.repo, "v1", manifest, mt.OCI_MANIFEST, "alice")
            assert len(info.value.detail["digests"]) == 2
            assert await w.count(Manifest) == 0
            # An index needs its children in the repository.
            child = await w.image("child")
            child_digest = sha256(child)
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": mt.OCI_INDEX,
                    "manifests": [descriptor(mt.OCI_MANIFEST, child_digest, child)],
                }
            ).encode()
            with pytest.raises(ManifestBlobUnknownError):
                await w.content.put_manifest(w.repo, "multi", index, mt.OCI_INDEX, "alice")
            await w.content.put_manifest(w.repo, child_digest, child, mt.OCI_MANIFEST, "alice")
            pushed = await w.content.put_manifest(w.repo, "multi", index, mt.OCI_INDEX, "alice")
            view = await w.content.get_manifest(w.repo, "multi")
            assert (view.digest, view.media_type) == (pushed.digest, mt.OCI_INDEX)
            # Foreign layers are not required to be in the registry.
            foreign = json.loads(await w.image("with-foreign"))
            foreign["layers"].append(
                {
                    "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": sha256(b"windows base"),
                    "size": 12,
                }
            )
            body_ = json.dumps(foreign).encode()
            assert (
                await w.content.put_manifest(w.repo, "win", body_, None, "alice")
            ).digest == sha256(body_)

    asyncio.run(scenario())


def test_immutable_repository(world):
    async def scenario():
        async with world as w:
            async with w.db.write() as session:
                await session.execute(
                    update(Repository)
                    .where(Repository.id == w.repo.id)
                    .values(tag_mutability="Immutable")
                )
            repo = await w.tenancy.find_repository(INSTANCE, RepositoryName.parse("ns/app"))
            assert repo is not None and repo.immutable
            m1, m2 = await w.image("one", repo), await w.image("two", repo)

            await w.content.put_manifest(repo, "v1", m1, mt.OCI_MANIFEST, "alice")
            events_before = await w.events()
            with pytest.raises(ImmutableTagError) as info:
                await w.content.put_manifest(repo, "v1", m2, mt.OCI_MANIFEST, "alice")
            assert str(info.value) == IMMUTABLE_TAG_MESSAGE
            assert (
                info.value.message == "The requested tag already exists and cannot be overwritten."
            )
            assert (await w.content.get_manifest(repo, "v1")).digest == sha256(m1)
            assert await w.count(Manifest) == 1  # the refused push stored nothing
            assert await w.events() == events_before
            # An identical re-push is fine.
            assert (
                await w.content.put_manifest(repo, "v1", m1, mt.OCI_MANIFEST, "alice")
            ).digest == sha256(m1)
            # New tags and pushes by digest are fine.
            await w.content.put_manifest(repo, "v2", m2, mt.OCI_MANIFEST, "alice")
            # "latest" stays mutable.
            await w.content.put_manifest(repo, "latest", m1, mt.OCI_MANIFEST, "alice")
            await w.content.put_manifest(repo, "latest", m2, mt.OCI_MANIFEST, "alice")
            assert (await w.content.get_manifest(repo, "latest")).digest == sha256(m2)
            # Tags cannot be deleted, except latest; nor manifests that carry them.
            with pytest.raises(ImmutableTagError):
                await w.content.delete_manifest(repo, "v1")
            with pytest.raises(ImmutableTagError):
                await w.content.delete_manifest(repo, sha256(m1))
            assert (await w.content.get_manifest(repo, "v1")).digest == sha256(m1)
            await w.content.delete_manifest(repo, "latest")
            with pytest.raises(ManifestUnknownError):
                await w.content.get_manifest(repo, "latest")
            # An untagged manifest can be deleted by digest.
            m3 = await w.image("three", repo)
            await w.content.put_manifest(repo, sha256(m3), m3, mt.OCI_MANIFEST, "alice")
            await w.content.delete_manifest(repo, sha256(m3))
            assert (await w.content.list_tags(repo, None, None)) == (["v1", "v2"], False)

            # The same operations are allowed in a mutable repository.
            assert not w.repo.immutable
            mutable = await w.repository("ns/mutable")
            a, b = await w.image("a", mutable), await w.image("b", mutable)
            await w.content.put_manifest(mutable, "v1", a, mt.OCI_MANIFEST, "alice")
            await w.content.put_manifest(mutable, "v1", b, mt.OCI_MANIFEST, "alice")
            await w.content.delete_manifest(mutable, "v1")

    asyncio.run(scenario())


def test_referrers(world):
    sbom, sig = "application/vnd.example.sbom.v1+json", "application/vnd.example.signature"
    helm = "application/vnd.cncf.helm.config.v1+json"

    async def scenario():
        async with world as w:
            subject_bytes = await w.image("subject")
            subject_digest = sha256(subject_bytes)
            await w.content.put_manifest(w.repo, "v1", subject_bytes, mt.OCI_MANIFEST, "alice")
            subject = descriptor(mt.OCI_MANIFEST, subject_digest, subject_bytes)
            empty = await w.push_blob(b"{}")
            payload = await w.push_blob(b"payload")

            def artifact(artifact_type: str | None, config_type: str, note: str) -> bytes:
                doc: dict[str, Any] = {
                    "schemaVersion": 2,
                    "mediaType": mt.OCI_MANIFEST,
                    "config": {"mediaType": config_type, "digest": empty, "size": 2},
                    "layers": [
                        {"mediaType": "application/octet-stream", "digest": payload, "size": 7}
                    ],
                    "subject": subject,
                    "annotations": {"note": note},
                }
                if artifact_type:
                    doc["artifactType"] = artifact_type
                return json.dumps(doc).encode()

            pushed = {}
            for name, art in [
                ("sbom", artifact(sbom, mt.OCI_EMPTY, "sbom")),
                ("sig", artifact(sig, mt.OCI_EMPTY, "sig")),
                ("chart", artifact(None, helm, "chart")),
            ]:
                result = await w.content.put_manifest(
                    w.repo, sha256(art), art, mt.OCI_MANIFEST, "bob"
                )
                assert result.subject == subject_digest
                pushed[name] = (result.digest, len(art))
            # Not a referrer: no subject.
            await w.content.put_manifest(w.repo, "v2", await w.image("unrelated"), None, "bob")

            everything = await w.content.referrers(w.repo, subject_digest, None)
            assert sorted(r["digest"] for r in everything) == sorted(d for d, _ in pushed.values())
            by_digest = {r["digest"]: r for r in everything}
            digest, size = pushed["sbom"]
            assert by_digest[digest] == {
                "mediaType": mt.OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "artifactType": sbom,
                "annotations": {"note": "sbom"},
            }
            # Without artifactType, the config media type is reported.
            assert by_digest[pushed["chart"][0]]["artifactType"] == helm

            only_sig = await w.content.referrers(w.repo, subject_digest, sig)
            assert [r["digest"] for r in only_sig] == [pushed["sig"][0]]
            assert [
                r["digest"] for r in await w.content.referrers(w.repo, subject_digest, helm)
            ] == [pushed["chart"][0]]
            assert await w.content.referrers(w.repo, subject_digest, "application/none") == []
            assert await w.content.referrers(w.repo, sha256(b"no such subject"), None) == []
            assert (
                await w.content.referrers(await w.repository("ns/other"), subject_digest, None)
                == []
            )
            with pytest.raises(DigestInvalidError):
                await w.content.referrers(w.repo, "not-a-digest", None)

    asyncio.run(scenario())


async def _set_edition(w: World, instance_id: str, edition: str) -> None:
    async with w.db.write() as session:
        await session.execute(
            update(Instance).where(Instance.id == instance_id).values(edition=edition)
        )


async def _shapes(w: World, repo: RepositoryRef) -> dict[str, tuple[bytes, str]]:
    """One manifest of each kind the edition rule tells apart, its content in ``repo``;
    the image itself is stored, and a chart and a typed artifact are stored by digest."""
    empty = await w.push_blob(b"{}", repo)
    chart_bytes = b"chart archive"
    chart_layer = await w.push_blob(chart_bytes, repo)
    image = await w.image(f"image of {repo.full_name}", repo)
    await w.content.put_manifest(repo, sha256(image), image, mt.OCI_MANIFEST, "alice")
    subject = descriptor(mt.OCI_MANIFEST, sha256(image), image)

    def manifest(config_type: str, **extra: Any) -> bytes:
        layer = descriptor(
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart_layer, chart_bytes
        )
        config = {"mediaType": config_type, "digest": empty, "size": 2}
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config}
        return json.dumps({**doc, "layers": [layer], **extra}).encode()

    def index(*children: bytes) -> bytes:
        manifests = [descriptor(mt.OCI_MANIFEST, sha256(c), c) for c in children]
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return json.dumps(doc).encode()

    chart = manifest("application/vnd.cncf.helm.config.v1+json")
    typed = manifest(mt.OCI_EMPTY, artifactType="application/vnd.example.thing")
    for stored in (chart, typed):
        await w.content.put_manifest(repo, sha256(stored), stored, mt.OCI_MANIFEST, "alice")
    return {
        "chart": (chart, mt.OCI_MANIFEST),
        "typed": (typed, mt.OCI_MANIFEST),
        "index of artifacts": (index(image, chart, typed), mt.OCI_INDEX),
        "index of images": (index(image), mt.OCI_INDEX),
        "cosign": (
            manifest(mt.OCI_EMPTY, artifactType=mt.COSIGN_SIGNATURE, subject=subject),
            mt.OCI_MANIFEST,
        ),
        "notation": (
            manifest(mt.OCI_EMPTY, artifactType=mt.NOTATION_SIGNATURE, subject=subject),
            mt.OCI_MANIFEST,
        ),
    }


async def _push_by_tag(
    w: World, repo: RepositoryRef, shapes: dict[str, tuple[bytes, str]]
) -> dict[str, str | None]:
    """Push each shape under a tag; the refusal message of each (None: stored)."""
    outcome: dict[str, str | None] = {}
    for number, (name, (doc, media_type)) in enumerate(shapes.items()):
        try:
            await w.content.put_manifest(repo, f"t{number}", doc, media_type, "alice")
            outcome[name] = None
        except EditionRequiredError as exc:
            outcome[name] = exc.message
    return outcome


def test_standard_refuses_oci_artifacts_and_keeps_images(world):
    """PRODUCT.md §1: OCI artifacts other than images need Advanced; images, indexes of
    images and image signatures push to Standard; what is stored already stays readable."""

    async def scenario():
        async with world as w:
            async with w.db.write() as session:
                account = (await session.execute(select(Account))).scalar_one()
                session.add(
                    Instance(
                        id="std",
                        account_id=account.id,
                        name="std",
                        region="local",
                        edition="Advanced",
                    )
                )
            name = RepositoryName.parse("ns/app")
            # Artifacts stored while the instance was Advanced (or before the rule existed).
            shapes = await _shapes(w, await w.tenancy.ensure_repository("std", name))
            await _set_edition(w, "std", "Standard")
            standard = await w.tenancy.find_repository("std", name)
            assert standard is not None and standard.edition == "Standard"
            manifests_before = await w.count(Manifest)

            outcome = await _push_by_tag(w, standard, shapes)
            refused = {n: m for n, m in outcome.items() if m is not None}
            assert sorted(refused) == ["chart", "index of artifacts", "typed"]
            for message in refused.values():
                assert message == (
                    "OCI artifacts other than images need the Advanced edition; "
                    "instance std is Standard"
                )
            tags = (await w.content.list_tags(standard, None, None))[0]
            assert len(tags) == 3  # the image index and both signatures
            assert await w.count(Manifest) == manifests_before + 3
            chart, _ = shapes["chart"]
            stored = await w.content.get_manifest(standard, sha256(chart))
            assert stored.content == chart

            # Advanced takes every shape.
            assert w.repo.edition == "Advanced"
            everything = await _push_by_tag(w, w.repo, await _shapes(w, w.repo))
            assert everything == dict.fromkeys(everything) and len(everything) == 6

    asyncio.run(scenario())


def test_new_names_outside_the_oci_grammar_are_refused_old_ones_stay_usable(world):
    """Every creating entry point refuses a component the OCI grammar rejects (three '_' in
    a row, '_' beside '-'); a repository stored before the rule stays pullable, pushable
    and deletable, and is listed for the operator."""

    async def scenario():
        async with world as w:
            for name in ("a___b/app", "ns/a___b", "a-_b/app", "ns/a_-b"):
                with pytest.raises(NameInvalidError, match="OCI name grammar"):
                    await w.tenancy.ensure_repository(INSTANCE, RepositoryName.parse(name))
            with pytest.raises(NameInvalidError, match="invalid namespace 'a___b'"):
                await w.tenancy.create_namespace(INSTANCE, "a___b")
            with pytest.raises(NameInvalidError, match="invalid repository 'x___y'"):
                await w.tenancy.create_repository(INSTANCE, "ns", "x___y")
            bulk = BulkService(w.db, w.content, w.tenancy)
            with pytest.raises(NameInvalidError, match="invalid namespace 'seed___0000'"):
                await bulk.seed(INSTANCE, repositories=1, tags_per_repository=0, prefix="seed___")
            # Conforming separators still pass everywhere.
            await w.tenancy.ensure_repository(INSTANCE, RepositoryName.parse("a__b/c-d"))
            await w.tenancy.create_namespace(INSTANCE, "e_f")
            await w.tenancy.create_repository(INSTANCE, "e_f", "g--h")

            # A namespace and repository stored before the rule.
            async with w.db.write() as session:
                legacy_ns = await tenancy_queries.insert_namespace_if_absent(
                    session, INSTANCE, "old___ns"
                )
                await tenancy_queries.insert_repository_if_absent(
                    session, legacy_ns, "app", "crr-legacy"
                )
            listed = await w.tenancy.nonconforming_names()
            assert listed.namespaces == ((INSTANCE, "old___ns"),)
            assert listed.repositories == ((INSTANCE, "old___ns/app"),)
            legacy_name = RepositoryName.parse("old___ns/app")
            legacy = await w.tenancy.ensure_repository(INSTANCE, legacy_name)  # exists
            manifest = await w.image("legacy", legacy)
            await w.content.put_manifest(legacy, "v1", manifest, mt.OCI_MANIFEST, "alice")
            assert (await w.content.get_manifest(legacy, "v1")).content == manifest
            # No new repository joins the old namespace, through the API or a push.
            with pytest.raises(NameInvalidError, match="invalid namespace 'old___ns'"):
                await w.tenancy.create_repository(INSTANCE, "old___ns", "new")
            with pytest.raises(NameInvalidError):
                await w.tenancy.ensure_repository(INSTANCE, RepositoryName.parse("old___ns/new"))
            await w.tenancy.delete_repository(INSTANCE, "old___ns", "app")
            assert await w.tenancy.find_repository(INSTANCE, legacy_name) is None
            await w.tenancy.delete_namespace(INSTANCE, "old___ns")
            assert await w.tenancy.nonconforming_names() == NonconformingNames((), ())

    asyncio.run(scenario())


def test_list_tags_paging(world):
    tags = ["v1", "v10", "v2", "latest", "A-upper", "_under", "1.0", "beta"]

    async def scenario():
        async with world as w:
            manifest = await w.image("paged")
            for tag in tags:
                await w.content.put_manifest(w.repo, tag, manifest, mt.OCI_MANIFEST, "alice")
            everything = sorted(tags)  # lexical (byte) order
            assert await w.content.list_tags(w.repo, None, None) == (everything, False)
            assert await w.content.list_tags(w.repo, None, len(tags)) == (everything, False)
            assert await w.content.list_tags(w.repo, None, 100) == (everything, False)

            pages, last = [], None
            while True:
                page, more = await w.content.list_tags(w.repo, last, 3)
                pages.append(page)
                if not more:
                    break
                last = page[-1]
            assert pages == [everything[0:3], everything[3:6], everything[6:]]
            assert await w.content.list_tags(w.repo, "v1", None) == (["v10", "v2"], False)
            assert await w.content.list_tags(w.repo, "zzz", 5) == ([], False)
            assert await w.content.list_tags(w.repo, "b", 1) == (["beta"], True)
            assert await w.content.list_tags(await w.repository("ns/empty"), None, 10) == (
                [],
                False,
            )

    asyncio.run(scenario())


# -- the outbox ------------------------------------------------------------------------------


def test_every_change_writes_an_outbox_event(world):
    async def scenario():
        async with world as w:  # creates namespace ns and repository ns/app
            assert await w.events() == Counter({"NamespaceCreated": 1, "RepositoryCreated": 1})
            other = await w.repository("ns/other")  # namespace exists: one event
            await w.repository("ns/other")  # exists: none
            m1 = await w.image("one")  # two blobs
            m2 = await w.image("two")  # two more
            await w.content.put_manifest(w.repo, "v1", m1, mt.OCI_MANIFEST, "alice")
            await w.content.put_manifest(w.repo, "v1", m1, mt.OCI_MANIFEST, "alice")  # no change
            await w.content.put_manifest(w.repo, "v1", m2, mt.OCI_MANIFEST, "alice")  # tag moves
            await w.content.put_manifest(
                w.repo, sha256(m2), m2, mt.OCI_MANIFEST, "alice"
            )  # nothing
            await w.content.mount(other, json.loads(m1)["config"]["digest"], w.repo)
            await w.content.delete_manifest(w.repo, "v1")
            await w.content.delete_manifest(w.repo, sha256(m1))
            await w.content.delete_blob(other, json.loads(m1)["config"]["digest"])
            assert await w.events() == Counter(
                {
                    "NamespaceCreated": 1,
                    "RepositoryCreated": 2,
                    "BlobPushed": 4,
                    "ManifestPushed": 2,
                    "TagUpdated": 2,
                    "BlobMounted": 1,
                    "TagDeleted": 1,
                    "ManifestDeleted": 1,
                    "BlobDeleted": 1,
                }
            )
            assert await w.event_payloads("TagUpdated") == [
                {
                    "repository": "ns/app",
                    "tag": "v1",
                    "digest": sha256(m1),
                    "previous": None,
                    "mediaType": mt.OCI_MANIFEST,
                    "pushedBy": "alice",
                },
                {
                    "repository": "ns/app",
                    "tag": "v1",
                    "digest": sha256(m2),
                    "previous": sha256(m1),
                    "mediaType": mt.OCI_MANIFEST,
                    "pushedBy": "alice",
                },
            ]
            pushed = await w.event_payloads("ManifestPushed")
            assert pushed[0] == {
                "repository": "ns/app",
                "digest": sha256(m1),
                "mediaType": mt.OCI_MANIFEST,
                "pushedBy": "alice",
            }

    asyncio.run(scenario())


def test_change_and_event_commit_together(world, monkeypatch):
    """A failure after the event is added rolls back the change, and the reverse."""

    async def scenario():
        async with world as w:
            manifest = await w.image("atomic")
            before = await w.events()

            async def broken_point_tag(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("crash after ManifestPushed was added")

            with monkeypatch.context() as m:
                m.setattr(content_queries, "point_tag", broken_point_tag)
                with pytest.raises(RuntimeError):
                    await w.content.put_manifest(w.repo, "v1", manifest, mt.OCI_MANIFEST, "alice")
            assert await w.count(Manifest) == 0
            assert await w.events() == before

            def broken_add_event(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("the event could not be written")

            with monkeypatch.context() as m:
                m.setattr(content_queries, "add_outbox_event", broken_add_event)
                with pytest.raises(RuntimeError):
                    await w.content.put_manifest(w.repo, "v1", manifest, mt.OCI_MANIFEST, "alice")
                with pytest.raises(RuntimeError):
                    await w.push_blob(b"never visible")
            assert await w.count(Manifest) == 0
            assert await w.count(Tag) == 0
            with pytest.raises(BlobUnknownError):
                await w.content.stat_blob(w.repo, sha256(b"never visible"))
            assert await w.count(Blob, Blob.digest == sha256(b"never visible")) == 0

            # With the queries intact, the same push works.
            await w.content.put_manifest(w.repo, "v1", manifest, mt.OCI_MANIFEST, "alice")
            assert await w.count(Manifest) == 1

    asyncio.run(scenario())


# -- concurrency -----------------------------------------------------------------------------


def test_concurrent_put_of_same_manifest(world):
    async def scenario():
        async with world as w:
            manifest = await w.image("racy")
            workers = [w.workers[0], w.worker(), w.worker(), w.worker()]
            results = await asyncio.gather(
                *(
                    workers[i % 4].content.put_manifest(
                        w.repo, "v1", manifest, mt.OCI_MANIFEST, f"u{i}"
                    )
                    for i in range(8)
                )
            )
            assert {r.digest for r in results} == {sha256(manifest)}
            assert await w.count(Manifest) == 1
            assert await w.count(Tag) == 1
            events = await w.events()
            assert events["ManifestPushed"] == 1
            assert events["TagUpdated"] == 1
            assert (await w.content.get_manifest(w.repo, "v1")).content == manifest

    asyncio.run(scenario())


def test_concurrent_finish_of_uploads_with_same_blob(world):
    data = os.urandom(512 * 1024)
    digest = sha256(data)

    async def scenario():
        async with world as w:
            workers = [w.workers[0], w.worker(), w.worker(), w.worker()]
            uploads = []
            for i in range(8):
                worker = workers[i % 4]
                uid = str((await worker.content.start_upload(w.repo)).id)
                await worker.content.append(w.repo, uid, body(data[:1000]), 0)
                uploads.append(uid)
            assert len(w.upload_files()) == 8
            # The last chunk and the digest of each arrive at once, on different workers.
            sizes = await asyncio.gather(
                *(
                    workers[(i + 1) % 4].content.finish_upload(
                        w.repo, uid, digest, body(data[1000:])
                    )
                    for i, uid in enumerate(uploads)
                )
            )
            assert sizes == [len(data)] * 8
            assert await w.count(Blob) == 1
            assert await w.count(RepositoryBlob) == 1
            assert await w.count(Upload) == 0
            assert w.upload_files() == []
            assert len(w.blob_files()) == 1
            assert (await w.events())["BlobPushed"] == 1  # the blob appeared in the repository once
            blob = await w.content.blob_body(w.repo, digest)
            assert blob.path is not None and blob.path.read_bytes() == data

            # Monolithic pushes of one new blob, all at once, into two repositories.
            other = await w.repository("ns/other")
            more = os.urandom(100_000)
            await asyncio.gather(
                *(
                    workers[i % 4].content.monolithic_upload(
                        w.repo if i % 2 else other, sha256(more), body(more)
                    )
                    for i in range(8)
                )
            )
            assert await w.count(Blob) == 2
            assert await w.count(RepositoryBlob) == 3
            assert w.upload_files() == []

    asyncio.run(scenario())


# -- expiry ----------------------------------------------------------------------------------


def test_purge_expired_uploads(world):
    async def scenario():
        async with world as w:
            expired = await w.content.start_upload(w.repo)
            active = await w.content.start_upload(w.repo)
            await w.content.append(w.repo, str(expired.id), body(b"stale bytes"), 0)
            async with w.db.write() as session:
                await session.execute(
                    update(Upload)
                    .where(Upload.id == expired.id)
                    .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
                )
            expired_key = await w.storage_key(expired.id)
            active_key = await w.storage_key(active.id)
            # An expired session is unknown even before the purge runs.
            with pytest.raises(UploadUnknownError):
                await w.content.upload_status(w.repo, str(expired.id))

            # Crash leftovers: upload files no session names, one old and one recent.
            old_orphan = await w.store.start_upload()
            new_orphan = await w.store.start_upload()
            long_ago = time.time() - TTL.total_seconds() - 60
            uploads = w.root / "uploads"
            os.utime(uploads / old_orphan, (long_ago, long_ago))
            # An old file of a live session is kept: the session names it.
            os.utime(uploads / active_key, (long_ago, long_ago))

            assert await w.content.purge_expired_uploads() == 2
            assert set(w.upload_files()) == {active_key, new_orphan}
            assert expired_key not in w.upload_files()
            assert await w.count(Upload) == 1
            assert (await w.content.upload_status(w.repo, str(active.id))).size == 0
            # Nothing more to do the second time.
            assert await w.content.purge_expired_uploads() == 0
            assert set(w.upload_files()) == {active_key, new_orphan}

    asyncio.run(scenario())
