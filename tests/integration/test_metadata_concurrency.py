"""Races between nodes on one metadata database: uniqueness and events stay exact.

Each "node" has its own :class:`Database` (its own engines and connection pool) and its
own service objects, as separate ``dockyard serve`` processes do; many tasks per node run
at once. On PostgreSQL (READ COMMITTED) the transactions really interleave, so these
tests prove the queries settle races with constraints and row locks rather than
read-then-write. On SQLite write transactions are serialised (``BEGIN IMMEDIATE``); the
same tests run there to keep the behaviour identical.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dockyard.metadata import migrate
from dockyard.metadata.models import (
    Account,
    Blob,
    Instance,
    Manifest,
    ManifestReference,
    Namespace,
    OutboxEvent,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
)
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import AuditLog
from dockyard.services.content import ContentService, ImmutableTagError, ManifestUnknownError
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

INSTANCE = "default"
TTL = timedelta(hours=1)
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TASKS = 16  # concurrent operations per race, spread over the nodes


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def body(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class Node:
    def __init__(self, url: str, root: Path) -> None:
        self.db = Database(url)
        self.content = ContentService(self.db, FilesystemBlobStore(root), TTL)
        self.tenancy = TenancyService(self.db, AuditLog(self.db))


class Cluster:
    """Two nodes over one database and one storage root."""

    def __init__(self, url: str, root: Path) -> None:
        self.nodes = [Node(url, root), Node(url, root)]
        self.a = self.nodes[0]

    def node(self, i: int) -> Node:
        return self.nodes[i % len(self.nodes)]

    async def __aenter__(self) -> Cluster:
        async with self.a.db.write() as session:
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
        for node in self.nodes:
            await node.db.dispose()

    async def repository(self, name: str) -> RepositoryRef:
        return await self.a.tenancy.ensure_repository(INSTANCE, RepositoryName.parse(name))

    async def count(self, model: Any, *where: Any) -> int:
        async with self.a.db.read() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(stmt)).scalar_one())

    async def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        async with self.a.db.read() as session:
            stmt = select(OutboxEvent)
            if type_ is not None:
                stmt = stmt.where(OutboxEvent.type == type_)
            rows = (await session.execute(stmt)).scalars().all()
        return [{"type": r.type, **r.payload} for r in rows]

    async def event_counts(self) -> Counter[str]:
        return Counter(e["type"] for e in await self.events())

    async def push_blob(self, data: bytes, repo: RepositoryRef) -> str:
        await self.a.content.monolithic_upload(repo, sha256(data), body(data))
        return sha256(data)

    async def image(self, seed: str, repo: RepositoryRef | None = None) -> bytes:
        repo = repo or self.repo
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layer = f"layer {seed}".encode() * 20
        doc = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_IMAGE_CONFIG,
                "digest": await self.push_blob(config, repo),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": LAYER,
                    "digest": await self.push_blob(layer, repo),
                    "size": len(layer),
                }
            ],
        }
        return json.dumps(doc).encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Cluster:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
    else:
        url = request.getfixturevalue("pg_migrated_url")
    return Cluster(url, tmp_path / "storage")


def test_same_blob_finished_concurrently(cluster: Cluster) -> None:
    data = os.urandom(200_000)
    digest = sha256(data)

    async def scenario() -> None:
        async with cluster as c:
            uploads = []
            for i in range(TASKS):
                uid = str((await c.node(i).content.start_upload(c.repo)).id)
                await c.node(i).content.append(c.repo, uid, body(data[:5000]), 0)
                uploads.append(uid)
            sizes = await asyncio.gather(
                *(
                    c.node(i + 1).content.finish_upload(c.repo, uid, digest, body(data[5000:]))
                    for i, uid in enumerate(uploads)
                )
            )
            assert sizes == [len(data)] * TASKS
            assert await c.count(Blob) == 1
            assert await c.count(RepositoryBlob) == 1
            assert await c.count(Upload) == 0
            assert (await c.event_counts())["BlobPushed"] == 1

            # Monolithic pushes of one new blob into several new repositories at once.
            repos = [await c.repository(f"ns/r{i}") for i in range(4)]
            more = os.urandom(50_000)
            await asyncio.gather(
                *(
                    c.node(i).content.monolithic_upload(repos[i % 4], sha256(more), body(more))
                    for i in range(TASKS)
                )
            )
            assert await c.count(Blob) == 2
            assert await c.count(RepositoryBlob) == 1 + 4
            assert (await c.event_counts())["BlobPushed"] == 1 + 4

    asyncio.run(scenario())


def test_same_manifest_pushed_concurrently(cluster: Cluster) -> None:
    async def scenario() -> None:
        async with cluster as c:
            manifest = await c.image("same")
            digest = sha256(manifest)
            results = await asyncio.gather(
                *(
                    c.node(i).content.put_manifest(
                        c.repo, "v1" if i % 2 else digest, manifest, mt.OCI_MANIFEST, f"u{i}"
                    )
                    for i in range(TASKS)
                )
            )
            assert {r.digest for r in results} == {digest}
            assert await c.count(Manifest) == 1
            assert await c.count(ManifestReference) == 2  # config + layer, written once
            assert await c.count(Tag) == 1
            counts = await c.event_counts()
            assert counts["ManifestPushed"] == 1
            assert counts["TagUpdated"] == 1
            assert (await c.a.content.get_manifest(c.repo, "v1")).content == manifest

    asyncio.run(scenario())


def _assert_tag_history(events: list[dict[str, Any]], final: str) -> None:
    """The TagUpdated events of one tag are one walk from "no tag" to ``final``.

    Every move leaves the digest the previous move arrived at, so counting per digest,
    moves away equal moves in — except the walk's start (no tag) and its end. Two
    transactions both moving the tag away from the same state (a lost update) break this.
    """
    balance: Counter[str | None] = Counter()
    for event in events:
        assert event["previous"] != event["digest"]
        balance[event["previous"]] += 1
        balance[event["digest"]] -= 1
    expected: Counter[str | None] = Counter({None: 1, final: -1})
    assert +balance == +expected and -balance == -expected, balance
    assert events, "the tag was never reported"


def test_same_tag_moved_concurrently(cluster: Cluster) -> None:
    async def scenario() -> None:
        async with cluster as c:
            manifests = [await c.image(f"m{i}") for i in range(4)]
            digests = [sha256(m) for m in manifests]
            for round_ in range(3):
                await asyncio.gather(
                    *(
                        c.node(i).content.put_manifest(
                            c.repo, "moving", manifests[(i + round_) % 4], mt.OCI_MANIFEST, "u"
                        )
                        for i in range(TASKS)
                    )
                )
                final = (await c.a.content.get_manifest(c.repo, "moving")).digest
                assert final in digests
                assert await c.count(Tag) == 1
                _assert_tag_history(await c.events("TagUpdated"), final)
            assert await c.count(Manifest) == 4
            assert (await c.event_counts())["ManifestPushed"] == 4

    asyncio.run(scenario())


def test_immutable_tag_taken_by_exactly_one_concurrent_push(cluster: Cluster) -> None:
    async def scenario() -> None:
        async with cluster as c:
            async with c.a.db.write() as session:
                await session.execute(
                    update(Repository)
                    .where(Repository.id == c.repo.id)
                    .values(tag_mutability="Immutable")
                )
            repo = await c.a.tenancy.find_repository(INSTANCE, RepositoryName.parse("ns/app"))
            assert repo is not None and repo.immutable
            manifests = [await c.image(f"imm{i}", repo) for i in range(4)]
            results = await asyncio.gather(
                *(
                    c.node(i).content.put_manifest(
                        repo, "release", manifests[i % 4], mt.OCI_MANIFEST, "u"
                    )
                    for i in range(TASKS)
                ),
                return_exceptions=True,
            )
            for r in results:
                assert not isinstance(r, BaseException) or isinstance(r, ImmutableTagError), r
            winners = {r.digest for r in results if not isinstance(r, BaseException)}
            assert len(winners) == 1
            final = (await c.a.content.get_manifest(repo, "release")).digest
            assert winners == {final}
            tag_events = await c.events("TagUpdated")
            assert [(e["digest"], e["previous"]) for e in tag_events] == [(final, None)]

    asyncio.run(scenario())


def test_repository_auto_creation_race(cluster: Cluster) -> None:
    async def scenario() -> None:
        async with cluster as c:
            names = ["fresh/one", "fresh/two", "other/one"]
            refs = await asyncio.gather(
                *(
                    c.node(i).tenancy.ensure_repository(
                        INSTANCE, RepositoryName.parse(names[i % len(names)])
                    )
                    for i in range(TASKS * 2)
                )
            )
            by_name: dict[str, set[Any]] = {}
            for ref in refs:
                by_name.setdefault(ref.full_name, set()).add(ref.id)
            assert {n: len(ids) for n, ids in by_name.items()} == dict.fromkeys(names, 1)
            assert await c.count(Repository) == 1 + 3  # ns/app + the new ones
            assert await c.count(Namespace) == 1 + 2
            counts = await c.event_counts()
            assert counts["RepositoryCreated"] == 1 + 3
            assert counts["NamespaceCreated"] == 1 + 2

    asyncio.run(scenario())


def test_manifest_deleted_while_being_tagged(cluster: Cluster) -> None:
    """Delete by digest races a push that tags the same manifest: one order or the other."""

    async def scenario() -> None:
        async with cluster as c:
            manifest = await c.image("doomed")
            digest = sha256(manifest)
            for round_ in range(6):
                await c.a.content.put_manifest(c.repo, "a", manifest, mt.OCI_MANIFEST, "u")

                async def delete(node: Node) -> None:
                    with contextlib.suppress(ManifestUnknownError):
                        await node.content.delete_manifest(c.repo, digest)

                push = c.node(round_).content.put_manifest(
                    c.repo, "b", manifest, mt.OCI_MANIFEST, "u"
                )
                await asyncio.gather(delete(c.node(round_ + 1)), push)
                tags = sorted(
                    (await c.a.content.list_tags(c.repo, None, None))[0],
                )
                manifests = await c.count(Manifest, Manifest.repository_id == c.repo.id)
                # Push last: the manifest is back with tag b. Delete last: nothing is left.
                assert (manifests, tags) in ((1, ["b"]), (0, [])), (manifests, tags)
                deleted = (await c.events("ManifestDeleted"))[-1]
                assert set(deleted["tags"]) in ({"a"}, {"a", "b"})
                if manifests:
                    await c.a.content.delete_manifest(c.repo, digest)
                assert await c.count(Tag) == 0

    asyncio.run(scenario())


def test_expired_uploads_purged_once_by_concurrent_nodes(cluster: Cluster) -> None:
    async def scenario() -> None:
        async with cluster as c:
            ids = [(await c.node(i).content.start_upload(c.repo)).id for i in range(20)]
            async with c.a.db.write() as session:
                await session.execute(
                    update(Upload)
                    .where(Upload.id.in_(ids))
                    .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
                )
            purged = await asyncio.gather(
                *(c.node(i).content.purge_expired_uploads() for i in range(6))
            )
            assert sum(purged) == 20
            assert await c.count(Upload) == 0

    asyncio.run(scenario())
