"""Garbage collection below the HTTP faces, on SQLite and on a real PostgreSQL: pushes and
deletes through the content service, runs through the GC service with a clock moved by
assignment, and the races made deterministic by pausing the run at a phase (the GC's
``pause`` hook, injected) while a client acts."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.s3server import MotoServer, moto_server, s3_store_config  # noqa: F401 - fixtures

from dockyard.clock import ManualClock
from dockyard.metadata.models import AuditEvent, Blob, GcRun, Job, Manifest, Upload
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.content import errors as content_errors
from dockyard.services.gc import (
    RUN_JOB_KIND,
    GarbageCollector,
    GcPolicy,
    GcRunningError,
    GcRunView,
)
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.storage import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

INSTANCE = "default"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ADMIN = Actor("admin")
GRACE = timedelta(hours=1)
#: Later than anything the tests push (rows carry the real time): all of it is "old".
START = datetime.now(UTC) + timedelta(hours=2)


class Pauses:
    """The GC's phase hook: a run stops at the phase named in ``at`` until released."""

    def __init__(self) -> None:
        self.at: str | None = None
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.seen: list[str] = []

    async def __call__(self, phase: str) -> None:
        self.seen.append(phase)
        if phase == self.at:
            self.reached.set()
            await self.release.wait()


class Harness:
    def __init__(self, url: str, store: BlobStore, policy: GcPolicy) -> None:
        self.clock = ManualClock(START)
        self.db = Database(url)
        self.store = store
        self.audit = AuditLog(self.db)
        self.tenancy = TenancyService(self.db, self.audit)
        self.content = ContentService(self.db, store, timedelta(hours=1))
        self.pauses = Pauses()
        self.gc = GarbageCollector(
            self.db, store, self.content, self.audit, policy, clock=self.clock, pause=self.pauses
        )

    async def start(self) -> None:
        from dockyard.metadata.models import Account, Instance

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

    async def repository(self, name: str) -> RepositoryRef:
        return await self.tenancy.ensure_repository(INSTANCE, RepositoryName.parse(name))

    async def blob(
        self, repo: RepositoryRef, data: bytes, media_type: str = LAYER
    ) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        await self.content.monolithic_upload(repo, digest, _body(data))
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    async def image(self, repo: RepositoryRef, tag: str, *layers: bytes) -> str:
        """Push an image whose config is made from ``tag`` and whose layers are ``layers``."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": await self.blob(repo, config, mt.OCI_IMAGE_CONFIG),
            "layers": [await self.blob(repo, layer) for layer in layers],
        }
        return await self.put(repo, tag, manifest)

    async def put(self, repo: RepositoryRef, reference: str, manifest: dict[str, Any]) -> str:
        body = json.dumps(manifest).encode()
        pushed = await self.content.put_manifest(repo, reference, body, manifest["mediaType"], "a")
        return pushed.digest

    async def run(self, *, dry_run: bool = False) -> GcRunView:
        return await self.gc.run(actor=ADMIN, dry_run=dry_run)

    async def later(self, delta: timedelta = GRACE * 2) -> None:
        self.clock.advance(delta)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.read() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(stmt)).scalar_one())

    async def stored(self, data: bytes) -> bool:
        return await self.store.stat(Digest.of(data)) is not None


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


DEFAULT = GcPolicy(grace=GRACE)


def scenario(
    url: str, store: Callable[[], BlobStore], policy: GcPolicy = DEFAULT
) -> Callable[[Callable[[Harness], Awaitable[None]]], None]:
    """Decorator: run ``steps(harness)`` on a started harness, then close it."""

    def run(steps: Callable[[Harness], Awaitable[None]]) -> None:
        async def main() -> None:
            h = Harness(url, store(), policy)
            try:
                await h.start()
                await steps(h)
            finally:
                await h.db.dispose()
                close = getattr(h.store, "aclose", None)
                if close is not None:
                    await close()

        asyncio.run(main())

    return run


def on_disk(tmp_path: Path) -> Callable[[], BlobStore]:
    return lambda: FilesystemBlobStore(tmp_path / "storage")


def test_a_deleted_image_is_condemned_then_reclaimed_after_the_grace_period(url, tmp_path):
    """Unique blobs of a deleted manifest go in the second run (the first condemns them);
    a layer another image shares, and the other image, stay."""

    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        shared, only_b = b"shared layer" * 50, b"layer of b only" * 70
        await h.image(repo, "a", shared)
        b = await h.image(repo, "b", shared, only_b)
        await h.content.delete_manifest(repo, b)

        first = await h.run()
        assert (first.status, first.blobs_condemned, first.blobs_deleted) == ("succeeded", 2, 0)
        assert await h.stored(only_b)

        await h.later()
        second = await h.run()
        config_b = json.dumps({"architecture": "amd64", "os": "linux", "tag": "b"}).encode()
        assert second.blobs_deleted == 2
        assert second.bytes_reclaimed == len(only_b) + len(config_b)
        assert second.phase == "done" and second.duration_seconds is not None
        assert not await h.stored(only_b) and not await h.stored(config_b)
        assert await h.stored(shared)
        with pytest.raises(content_errors.BlobUnknownError):
            await h.content.stat_blob(repo, str(Digest.of(only_b)))
        assert (await h.content.get_manifest(repo, "a")).digest
        assert await h.count(Blob) == 2  # a's config and the shared layer

        third = await h.run()
        assert (third.blobs_condemned, third.blobs_deleted) == (0, 0)


def test_head_then_gc_then_manifest_put_succeeds(url, tmp_path):
    """The race: a client HEADs a condemned blob while a due run is paused before its
    sweep, the run sweeps, and the manifest naming the blob is then pushed."""

    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        layer = b"layer uploaded long ago" * 40
        await h.blob(repo, layer)
        assert (await h.run()).blobs_condemned == 1
        await h.later()

        h.pauses.at = "sweep"
        gc = asyncio.create_task(h.run())
        await h.pauses.reached.wait()
        lookup = await h.content.lookup_blob(INSTANCE, "ns/app", str(Digest.of(layer)))
        assert lookup.value == len(layer)  # HEAD: 200, and the condemnation is lifted
        h.pauses.release.set()
        report = await gc
        assert report.blobs_deleted == 0

        await h.image(repo, "v1", layer)
        assert await h.stored(layer)
        assert (await h.run()).blobs_deleted == 0


def test_gc_never_deletes_a_blob_a_pushed_manifest_names(url, tmp_path):
    """A manifest pushed (without a HEAD) while the run is paused before its sweep keeps
    its blobs: the sweep checks the references again under the blob's lock."""

    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        layer = b"layer pushed before its manifest" * 30
        descriptor = await h.blob(repo, layer)
        config = await h.blob(repo, b'{"os":"linux"}', mt.OCI_IMAGE_CONFIG)
        assert (await h.run()).blobs_condemned == 2
        await h.later()

        h.pauses.at = "sweep"
        gc = asyncio.create_task(h.run())
        await h.pauses.reached.wait()
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": config,
            "layers": [descriptor],
        }
        await h.put(repo, "v1", manifest)
        h.pauses.release.set()
        assert (await gc).blobs_deleted == 0
        assert await h.stored(layer)
        assert await h.content.stat_blob(repo, descriptor["digest"]) == len(layer)


def test_a_blob_unlinked_by_the_sweep_is_unknown_and_can_be_uploaded_again(url, tmp_path):
    """Paused after the sweep unlinked a blob (before its bytes go): a HEAD says 404, a
    manifest naming it is refused, and uploading it again keeps its bytes."""

    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        layer = b"layer the client pushes again" * 30
        await h.blob(repo, layer)
        await h.run()
        await h.later()

        h.pauses.at = "unlinked"
        gc = asyncio.create_task(h.run())
        await h.pauses.reached.wait()
        digest = str(Digest.of(layer))
        assert (await h.content.lookup_blob(INSTANCE, "ns/app", digest)).value is None
        with pytest.raises(content_errors.ManifestBlobUnknownError):
            await h.put(
                repo,
                "v0",
                {
                    "schemaVersion": 2,
                    "mediaType": mt.OCI_MANIFEST,
                    "config": {"mediaType": LAYER, "digest": digest, "size": len(layer)},
                    "layers": [],
                },
            )
        await h.blob(repo, layer)  # the client uploads it again
        h.pauses.release.set()
        assert (await gc).blobs_deleted == 0
        assert await h.stored(layer)
        await h.image(repo, "v1", layer)
        assert await h.content.stat_blob(repo, digest) == len(layer)


def test_uploads_in_progress_keep_their_bytes_and_expired_ones_are_reclaimed(url, tmp_path):
    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        live = await h.content.start_upload(repo)
        await h.content.append(repo, str(live.id), _body(b"x" * 1000), None)
        stale = await h.content.start_upload(repo)
        await h.content.append(repo, str(stale.id), _body(b"y" * 700), None)
        async with h.db.write() as session:
            await session.execute(
                update(Upload)
                .where(Upload.id == stale.id)
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        report = await h.run()
        assert (report.uploads_purged, report.bytes_reclaimed) == (1, 700)
        assert await h.count(Upload) == 1
        # The live upload finishes after GC and its blob is there.
        data = b"x" * 1000 + b"z" * 10
        size = await h.content.finish_upload(
            repo, str(live.id), str(Digest.of(data)), _body(b"z" * 10)
        )
        assert size == len(data) and await h.stored(data)


def test_orphan_bytes_without_a_row_are_reclaimed_unless_linked_meanwhile(url, tmp_path):
    """Bytes renamed into the store whose commit never came (a crash) go; bytes whose
    upload links them while the run is paused after listing the store stay."""

    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        orphan, racing = b"orphan bytes" * 10, b"bytes linked during the run" * 10
        for data in (orphan, racing):
            key = await h.store.start_upload()
            await h.store.append(key, 0, _body(data))
            await h.store.commit(key, Digest.of(data))  # renamed, never committed to the db

        h.pauses.at = "listed"
        gc = asyncio.create_task(h.run())
        await h.pauses.reached.wait()
        await h.blob(repo, racing)  # the same content, uploaded and linked now
        h.pauses.release.set()
        report = await gc
        assert (report.orphans_deleted, report.bytes_reclaimed) == (1, len(orphan))
        assert not await h.stored(orphan)
        assert await h.stored(racing)
        assert await h.content.stat_blob(repo, str(Digest.of(racing))) == len(racing)


def test_untagged_manifests_are_kept_by_default_and_reclaimed_with_an_age(url, tmp_path):
    """With an age: an untagged manifest goes (and its blobs in later runs); a child of a
    tagged index and a referrer of a present subject stay."""
    policy = GcPolicy(grace=GRACE, untagged_age=timedelta(hours=1))

    @scenario(url, on_disk(tmp_path), policy)
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        child = await h.image(repo, "child", b"child layer" * 10)
        loose = await h.image(repo, "loose", b"loose layer" * 10)
        subject = await h.image(repo, "subject", b"subject layer" * 10)
        index = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": child, "size": 1}],
        }
        await h.put(repo, "multi", index)
        empty = await h.blob(repo, b"{}", "application/vnd.oci.empty.v1+json")
        referrer = await h.put(
            repo,
            "tmp",
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": empty,
                "layers": [empty],
                "subject": {"mediaType": mt.OCI_MANIFEST, "digest": subject, "size": 1},
            },
        )
        for tag in ("child", "loose", "tmp"):
            await h.content.delete_tag(repo, tag)

        report = await h.run()
        assert report.manifests_deleted == 1
        async with h.db.read() as session:
            digests = set((await session.execute(select(Manifest.digest))).scalars())
        assert loose not in digests
        assert {child, subject, referrer} <= digests
        await h.later()
        assert (await h.run()).blobs_deleted == 2  # loose's config and layer


def test_signatures_stay_while_their_image_lives(url, tmp_path):
    """A Notation signature (an untagged referrer) and a cosign signature (under its
    ``sha256-<hex>.sig`` tag) are never untagged garbage while their image lives; once
    the image is gone, the referrer goes with the next run and the tagged one stays."""
    policy = GcPolicy(grace=GRACE, untagged_age=timedelta(hours=1))

    @scenario(url, on_disk(tmp_path), policy)
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/signed")
        image = await h.image(repo, "v1", b"signed layer" * 10)
        subject = {"mediaType": mt.OCI_MANIFEST, "digest": image, "size": 1}
        empty = await h.blob(repo, b"{}", "application/vnd.oci.empty.v1+json")
        envelope = await h.blob(repo, b'{"payload": "e30"}', "application/jose+json")
        notation = await h.put(
            repo,
            "tmp",
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "artifactType": mt.NOTATION_SIGNATURE,
                "config": empty,
                "layers": [envelope],
                "subject": subject,
            },
        )
        await h.content.delete_tag(repo, "tmp")
        payload = await h.blob(
            repo, b'{"critical": {}}', "application/vnd.dev.cosign.simplesigning.v1+json"
        )
        cosign = await h.put(
            repo,
            image.replace(":", "-") + ".sig",
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": empty,
                "layers": [payload],
            },
        )

        async def digests() -> set[str]:
            async with h.db.read() as session:
                return set((await session.execute(select(Manifest.digest))).scalars())

        await h.later()
        assert (await h.run()).manifests_deleted == 0
        assert {image, notation, cosign} <= await digests()

        await h.content.delete_tag(repo, "v1")
        await h.later()
        await h.run()
        await h.later()
        await h.run()
        left = await digests()
        assert image not in left and notation not in left
        assert cosign in left


def test_untagged_manifests_stay_without_an_age(url, tmp_path):
    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        digest = await h.image(repo, "v1", b"layer" * 10)
        await h.content.delete_tag(repo, "v1")
        await h.later(timedelta(days=365))
        assert (await h.run()).manifests_deleted == 0
        assert await h.count(Manifest, Manifest.digest == digest) == 1


def test_a_dry_run_reports_what_a_run_would_reclaim_and_deletes_nothing(url, tmp_path):
    policy = GcPolicy(grace=timedelta(0))

    @scenario(url, on_disk(tmp_path), policy)
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        layer = b"doomed layer" * 100
        await h.content.delete_manifest(repo, await h.image(repo, "v1", layer))
        dry = await h.run(dry_run=True)
        assert dry.dry_run and dry.blobs_deleted == 2
        assert await h.stored(layer) and await h.count(Blob) == 2
        real = await h.run()
        assert (real.blobs_deleted, real.bytes_reclaimed) == (
            dry.blobs_deleted,
            dry.bytes_reclaimed,
        )
        assert not await h.stored(layer)


def test_one_run_at_a_time_and_a_dead_run_is_recorded_abandoned(url, tmp_path):
    @scenario(url, on_disk(tmp_path))
    async def _(h: Harness) -> None:
        first = await h.gc.start(actor=ADMIN, dry_run=False)
        with pytest.raises(GcRunningError):
            await h.gc.start(actor=ADMIN, dry_run=True)
        await h.later(timedelta(minutes=5))  # the first run's node died: its lease lapsed
        second = await h.gc.start(actor=ADMIN, dry_run=True)
        assert (await h.gc.get(first.id)).status == "abandoned"
        done = await h.gc.execute(second.id)
        assert done.status == "succeeded"
        page = await h.gc.runs(PageRequest(1, 10))
        assert [r.id for r in page.items] == [second.id, first.id] and page.total == 2
        assert await h.count(GcRun) == 2
        assert await h.count(AuditEvent, AuditEvent.action == "cr:RunGarbageCollection") == 2


def test_a_run_started_through_the_api_is_a_job_that_runs_it_once(url, tmp_path):
    """The API queues the run's job with its record; a worker that died after finishing
    it leaves the job to run again, which finds the run ended and does nothing."""

    @scenario(url, on_disk(tmp_path), GcPolicy(grace=timedelta(0)))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        await h.content.delete_manifest(repo, await h.image(repo, "v1", b"queued" * 100))
        started = await h.gc.start(actor=ADMIN, dry_run=False, queued=True)
        async with h.db.read() as session:  # the harness's clock runs ahead of the queue's
            [job] = (await session.execute(select(Job).where(Job.kind == RUN_JOB_KIND))).scalars()
        assert job.payload == {"run": str(started.id)}
        done = await h.gc.execute_queued(job.payload)
        assert done is not None and (done.status, done.blobs_deleted) == ("succeeded", 2)
        assert await h.gc.execute_queued(job.payload) is None
        assert (await h.gc.get(started.id)).blobs_deleted == 2


def test_gc_on_s3(moto_server: MotoServer, tmp_path):  # noqa: F811 - the fixture
    """The whole cycle on the S3 driver (moto server): condemn, sweep, orphans."""
    from dockyard.metadata import migrate
    from dockyard.storage.s3 import S3BlobStore

    url = f"sqlite:///{tmp_path / 'dockyard.db'}"
    migrate.upgrade(url)
    config = s3_store_config(moto_server.endpoint_url, moto_server.create_bucket(), tmp_path)

    @scenario(url, lambda: S3BlobStore(config))
    async def _(h: Harness) -> None:
        repo = await h.repository("ns/app")
        kept, doomed, orphan = b"kept" * 300, b"doomed" * 300, b"orphan" * 300
        await h.image(repo, "a", kept)
        await h.content.delete_manifest(repo, await h.image(repo, "b", doomed))
        key = await h.store.start_upload()
        await h.store.append(key, 0, _body(orphan))
        await h.store.commit(key, Digest.of(orphan))
        first = await h.run()
        assert (first.blobs_condemned, first.orphans_deleted) == (2, 1)
        await h.later()
        assert (await h.run()).blobs_deleted == 2
        assert not await h.stored(doomed) and not await h.stored(orphan)
        assert await h.stored(kept)


def test_the_background_worker_runs_the_scheduled_gc(tmp_path: Path) -> None:
    """The ``garbage-collection`` job that ``build_background`` registers runs a scheduled
    run (no grace period here, so it reclaims a deleted image's blobs at once)."""
    from dockyard.bootstrap import build_background, load_master_key, upgrade_database
    from dockyard.services.jobs import JobQueue
    from dockyard.settings import Settings

    settings = Settings(data_dir=tmp_path, background_poll_seconds=0.05, gc_grace_seconds=0)
    upgrade_database(settings)
    load_master_key(settings, create=True)

    @scenario(settings.resolved_database_url, lambda: FilesystemBlobStore(settings.blob_root))
    async def _(h: Harness) -> None:
        background = build_background(settings)
        repo = await h.repository("ns/app")
        await h.content.delete_manifest(repo, await h.image(repo, "v1", b"scheduled" * 100))
        running = asyncio.create_task(background.worker.run())
        await JobQueue(h.db, "test").enqueue("garbage-collection", {})
        for _ in range(1200):  # a minute at most: a kind without a handler never runs
            page = await h.gc.runs(PageRequest(1, 1))
            if page.items and page.items[0].status != "running":
                break
            await asyncio.sleep(0.05)
        background.worker.stop()
        await running
        await background.stop()
        [run] = page.items
        assert (run.trigger, run.actor, run.status, run.blobs_deleted) == (
            "scheduled",
            None,
            "succeeded",
            2,
        )
        assert not await h.stored(b"scheduled" * 100)
