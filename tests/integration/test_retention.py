"""Tag retention below the HTTP faces, on SQLite and on a real PostgreSQL: pushes through
the content service, policies and runs through the retention service, tag times set to
known moments (the ranking is by each digest's newest tag update)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dockyard.bootstrap import build_background, load_master_key, upgrade_database
from dockyard.clock import ManualClock
from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.metadata.models import (
    Account,
    AuditEvent,
    Instance,
    Manifest,
    Repository,
    RetentionPolicy,
    RetentionRun,
    Tag,
)
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService, TagPointer
from dockyard.services.content import service as content_service
from dockyard.services.jobs import JobQueue
from dockyard.services.paging import PageRequest
from dockyard.services.retention import (
    RUN_JOB_KIND,
    PolicyChanges,
    PolicySpec,
    RetentionService,
    RunView,
)
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.settings import Settings
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

INSTANCE = "default"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
ADMIN = Actor("admin")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
PAGE = PageRequest(1, 100)


class Harness:
    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root
        self.clock = ManualClock(T0)
        self.db = Database(url)
        self.audit = AuditLog(self.db)
        self.tenancy = TenancyService(self.db, self.audit)
        self.content = ContentService(self.db, FilesystemBlobStore(root), timedelta(hours=1))
        self.retention = self.node(self.db)

    async def run_queued(self) -> list[RunView]:
        """Run the queued ``retention-run`` jobs as a worker would; the runs they recorded."""
        queue = JobQueue(self.db, "test")
        views = []
        for job in await queue.lease([RUN_JOB_KIND], limit=100):
            view = await self.retention.run_scheduled(job.payload)
            assert await queue.complete(job)
            if view is not None:
                views.append(view)
        return views

    def node(self, db: Database) -> RetentionService:
        """A retention service on ``db`` (another node's, for the schedule's race)."""
        audit = AuditLog(db)
        content = ContentService(db, FilesystemBlobStore(self.root), timedelta(hours=1))
        return RetentionService(db, TenancyService(db, audit), content, audit, clock=self.clock)

    async def start(self) -> None:
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

    async def repository(self, name: str, *, immutable: bool = False) -> RepositoryRef:
        repo = await self.tenancy.ensure_repository(INSTANCE, RepositoryName.parse(name))
        if immutable:
            async with self.db.write() as session:
                await session.execute(
                    update(Repository)
                    .where(Repository.id == repo.id)
                    .values(tag_mutability="Immutable")
                )
            repo = await self.tenancy.repository_ref(INSTANCE, *name.split("/"))
        return repo

    async def push(
        self, repo: RepositoryRef, tag: str, minute: int, *, seed: str | None = None, **extra: Any
    ) -> str:
        """Push a one-layer image (``seed`` makes its content) under ``tag``, tagged at
        minute ``minute``; its digest."""
        seed = seed or tag
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        descriptors = [
            await self.blob(repo, mt.OCI_IMAGE_CONFIG, config),
            await self.blob(repo, LAYER_TYPE, f"layer {seed}".encode() * 20),
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptors[0],
            "layers": descriptors[1:],
            **extra,
        }
        return await self.put(repo, tag, manifest, mt.OCI_MANIFEST, minute)

    async def blob(self, repo: RepositoryRef, media_type: str, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        await self.content.monolithic_upload(repo, digest, _body(data))
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    async def put(
        self, repo: RepositoryRef, tag: str, manifest: dict[str, Any], media_type: str, minute: int
    ) -> str:
        return await self.put_bytes(repo, tag, json.dumps(manifest).encode(), media_type, minute)

    async def put_bytes(
        self, repo: RepositoryRef, tag: str, body: bytes, media_type: str, minute: int
    ) -> str:
        pushed = await self.content.put_manifest(repo, tag, body, media_type, "alice")
        await self.tag_at(repo, tag, minute)
        return pushed.digest

    async def retag(self, repo: RepositoryRef, source: str, tag: str, minute: int) -> None:
        """Tag ``source``'s manifest as ``tag`` too, at minute ``minute``."""
        view = await self.content.get_manifest(repo, source)
        await self.put_bytes(repo, tag, view.content, view.media_type, minute)

    async def descriptor(self, repo: RepositoryRef, tag: str) -> dict[str, Any]:
        view = await self.content.get_manifest(repo, tag)
        return {"mediaType": view.media_type, "digest": view.digest, "size": len(view.content)}

    async def tag_at(self, repo: RepositoryRef, tag: str, minute: int) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(Tag)
                .where(Tag.repository_id == repo.id, Tag.name == tag)
                .values(updated_at=T0 + timedelta(minutes=minute))
            )

    async def tags(self, repo: RepositoryRef) -> list[str]:
        return (await self.content.list_tags(repo, None, None))[0]

    async def has_manifest(self, repo: RepositoryRef, digest: str) -> bool:
        async with self.db.read() as session:
            stmt = select(func.count()).where(
                Manifest.repository_id == repo.id, Manifest.digest == digest
            )
            return bool((await session.execute(stmt)).scalar_one())

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.read() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(stmt)).scalar_one())

    async def policy(self, name: str, keep_latest: int, **spec: Any) -> None:
        await self.retention.create(
            INSTANCE, PolicySpec(name, keep_latest, **spec), actor=ADMIN, resource="arn"
        )

    async def execute(self, name: str) -> RunView:
        return await self.retention.execute(INSTANCE, name, actor=ADMIN, resource="arn")


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def scenario(url: str, tmp_path: Path) -> Any:
    """Decorator: run ``steps(harness)`` on a started harness, then close it."""

    def run(steps: Any) -> None:
        async def main() -> None:
            h = Harness(url, tmp_path / "storage")
            try:
                await h.start()
                await steps(h)
            finally:
                await h.db.dispose()

        asyncio.run(main())

    return run


def outcome(run: RunView, repository: str) -> Any:
    return next(r for r in run.repositories if r.repository == repository)


def test_an_execution_deletes_exactly_what_the_dry_run_listed_and_records_the_run(url, tmp_path):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        other = await h.repository("ns/other")
        digests = {f"v{i}": await h.push(app, f"v{i}", i) for i in range(1, 7)}
        # v6's image also carries "stable", tagged earlier: one image, two tags, both kept.
        await h.retag(app, "v6", "stable", 0)
        # v1's image also carries "keep-me", which the pattern keeps: the manifest stays.
        await h.retag(app, "v1", "keep-me", 0)
        await h.push(other, "only", 1)
        await h.policy("keep-2", 2, namespace="ns", keep_tags="keep-.*")

        dry = await h.retention.dry_run(INSTANCE, "keep-2")
        assert dry.dry_run and dry.id is None
        assert outcome(dry, "ns/app").deleted == ["v1", "v2", "v3", "v4"]
        assert outcome(dry, "ns/app").kept == ["keep-me", "stable", "v5", "v6"]
        assert outcome(dry, "ns/other").deleted == []
        assert await h.tags(app) == ["keep-me", "stable", "v1", "v2", "v3", "v4", "v5", "v6"]
        assert await h.count(RetentionRun) == 0

        run = await h.execute("keep-2")
        assert run.status == "Succeeded" and run.actor == "admin" and run.trigger == "manual"
        assert outcome(run, "ns/app").deleted == outcome(dry, "ns/app").deleted
        assert await h.tags(app) == ["keep-me", "stable", "v5", "v6"]
        # The manifests nothing references any more went; v1's stays under keep-me.
        assert outcome(run, "ns/app").deleted_manifests == sorted(
            digests[t] for t in ("v2", "v3", "v4")
        )
        assert await h.has_manifest(app, digests["v1"])
        assert not await h.has_manifest(app, digests["v2"])
        assert await h.tags(other) == ["only"]

        runs = (await h.retention.runs(INSTANCE, "keep-2", PAGE)).items
        assert [r.id for r in runs] == [run.id]
        assert outcome(runs[0], "ns/app") == outcome(run, "ns/app")
        actions = {
            row.action
            for row in (await _audit(h))
            if row.action in ("cr:CreateRetentionPolicy", "cr:ExecuteRetentionPolicy")
        }
        assert actions == {"cr:CreateRetentionPolicy", "cr:ExecuteRetentionPolicy"}
        # A second execution finds nothing more to delete.
        again = await h.execute("keep-2")
        assert outcome(again, "ns/app").deleted == []


def test_a_manifest_an_index_or_a_live_subject_references_stays(url, tmp_path):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        child = await h.push(app, "child", 1)
        await h.push(app, "base", 2)
        platform = {"platform": {"architecture": "amd64", "os": "linux"}}
        index = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [{**await h.descriptor(app, "child"), **platform}],
        }
        await h.put(app, "multi", index, mt.OCI_INDEX, 9)
        subject = await h.descriptor(app, "base")
        signature = await h.push(app, "base.sig", 3, seed="sig", subject=subject)
        await h.push(app, "newest", 10)
        await h.policy("keep-2", 2, repositories=["ns/app"], keep_tags="base")

        run = await h.execute("keep-2")
        assert outcome(run, "ns/app").deleted == ["base.sig", "child"]
        assert outcome(run, "ns/app").deleted_manifests == []
        assert await h.has_manifest(app, child)  # the index "multi" references it
        assert await h.has_manifest(app, signature)  # its subject "base" is still here


def test_immutable_repositories_keep_their_tags_except_latest(url, tmp_path):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        locked = await h.repository("ns/locked", immutable=True)
        await h.push(locked, "v1", 1)
        await h.push(locked, "latest", 2)
        await h.push(locked, "v3", 3)
        await h.policy("keep-1", 1, repositories=["ns/locked"], keep_tags="^$")
        run = await h.execute("keep-1")
        result = outcome(run, "ns/locked")
        assert (result.kept, result.kept_immutable, result.deleted) == (["v3"], ["v1"], ["latest"])
        assert await h.tags(locked) == ["v1", "v3"]


def test_a_tag_a_push_moved_since_the_plan_is_not_deleted(url, tmp_path):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        old = await h.push(app, "v1", 1)
        await h.push(app, "v1", 2, seed="moved")
        pruned = await h.content.prune_tags(app, [TagPointer("v1", old, T0)])
        assert pruned.tags == () and pruned.manifests == ()
        assert await h.tags(app) == ["v1"]


def test_a_manifest_whose_tags_span_several_batches_goes_with_the_last(url, tmp_path, monkeypatch):
    monkeypatch.setattr(content_service, "PRUNE_BATCH", 2)

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        old = await h.push(app, "a1", 1, seed="old")
        await h.retag(app, "a1", "a2", 2)
        await h.retag(app, "a1", "a3", 3)
        await h.push(app, "new", 4)
        await h.policy("keep-1", 1, repositories=["ns/app"], keep_tags="^$")
        run = await h.execute("keep-1")
        assert outcome(run, "ns/app").deleted == ["a1", "a2", "a3"]
        assert outcome(run, "ns/app").deleted_manifests == [old]
        assert not await h.has_manifest(app, old)


def test_a_scheduled_run_that_would_delete_too_much_stops_and_one_node_runs_each_due_time(
    url, tmp_path
):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        for i in range(1, 5):
            await h.push(app, f"v{i}", i)
        h.clock.set(T0.replace(hour=2, minute=59))
        await h.policy("nightly", 1, namespace="ns", keep_tags="", schedule="03:00")
        assert await h.retention.queue_due() == 0  # not yet due

        h.clock.set(T0.replace(hour=3))
        # Every tag is kept ("" is every tag): due, queued once, run, nothing deleted.
        other_db = Database(h.url)
        try:
            results = await asyncio.gather(h.retention.queue_due(), h.node(other_db).queue_due())
        finally:
            await other_db.dispose()
        assert sorted(results) == [0, 1]
        assert (await h.retention.get(INSTANCE, "nightly")).next_run_at == T0.replace(
            hour=3
        ) + timedelta(days=1)
        assert await h.retention.queue_due() == 0
        [kept_all] = await h.run_queued()
        assert (kept_all.trigger, kept_all.status) == ("scheduled", "Succeeded")
        assert outcome(kept_all, "ns/app").deleted == []

        # keep-latest 1 of 4 tags deletes 75 %, more than the default 50 %: stopped.
        await h.retention.update(
            INSTANCE, "nightly", PolicyChanges(keep_tags="^$"), actor=ADMIN, resource="arn"
        )
        h.clock.advance(timedelta(days=1))
        assert await h.retention.queue_due() == 1
        [stopped] = await h.run_queued()
        assert stopped.status == "Stopped" and stopped.trigger == "scheduled"
        assert stopped.actor is None
        assert "3 of 4 tags of ns/app" in (stopped.reason or "")
        assert outcome(stopped, "ns/app").deleted == []
        assert outcome(stopped, "ns/app").kept == ["v1", "v2", "v3", "v4"]
        assert await h.tags(app) == ["v1", "v2", "v3", "v4"]
        # By hand it runs.
        assert outcome(await h.execute("nightly"), "ns/app").deleted == ["v1", "v2", "v3"]


def test_a_scheduled_run_job_run_again_records_one_run_and_a_deleted_policy_none(url, tmp_path):
    """A worker killed after recording its run leaves the job to run again: it must not
    record (or delete) twice; a policy deleted before its job ran leaves nothing to do."""

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        for i in range(1, 4):
            await h.push(app, f"v{i}", i)
        await h.policy("nightly", 2, namespace="ns", keep_tags="^$", schedule="03:00")
        h.clock.set(T0.replace(hour=3))
        assert await h.retention.queue_due() == 1
        queue = JobQueue(h.db, "test")
        [job] = await queue.lease([RUN_JOB_KIND])
        first = await h.retention.run_scheduled(job.payload)
        assert first is not None and outcome(first, "ns/app").deleted == ["v1"]
        assert await h.retention.run_scheduled(job.payload) is None  # the re-run
        assert (await h.retention.runs(INSTANCE, "nightly", PAGE)).total == 1

        h.clock.advance(timedelta(days=1))
        assert await h.retention.queue_due() == 1
        await h.retention.delete(INSTANCE, "nightly", actor=ADMIN, resource="arn")
        assert await h.run_queued() == []
        assert await h.tags(app) == ["v2", "v3"]


def test_run_records_older_than_the_setting_are_pruned(url, tmp_path):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        app = await h.repository("ns/app")
        await h.push(app, "v1", 1)
        await h.policy("keep", 1, repositories=["ns/app"])
        await h.execute("keep")
        h.clock.advance(timedelta(days=10))
        recent = await h.execute("keep")
        assert await h.retention.prune_runs(timedelta(days=5)) == 1
        [left] = (await h.retention.runs(INSTANCE, "keep", PAGE)).items
        assert left.id == recent.id


def test_policy_fields_and_scope_are_checked(url, tmp_path):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.repository("ns/app")
        with pytest.raises(InvalidInputError):
            await h.policy("both", 1, namespace="ns", repositories=["ns/app"])
        with pytest.raises(InvalidInputError):
            await h.policy("neither", 1)
        with pytest.raises(NotFoundError):
            await h.policy("ghost", 1, repositories=["ns/ghost"])
        with pytest.raises(InvalidInputError):
            await h.policy("bad", 1, namespace="ns", schedule="25:00")
        await h.policy("ok", 3, repositories=["ns/app"])
        view = await h.retention.get(INSTANCE, "ok")
        assert (view.keep_tags, view.schedule, view.next_run_at) == ("*", None, None)
        await h.retention.delete(INSTANCE, "ok", actor=ADMIN, resource="arn")
        with pytest.raises(NotFoundError):
            await h.retention.get(INSTANCE, "ok")


async def _audit(h: Harness) -> list[AuditEvent]:
    async with h.db.read() as session:
        return list((await session.execute(select(AuditEvent))).scalars().all())


def test_the_background_worker_runs_due_schedules(tmp_path: Path) -> None:
    """The ``retention-schedules`` job that ``build_background`` registers runs a policy
    whose daily time has passed, as a scheduled run, and moves it to its next day."""
    settings = Settings(data_dir=tmp_path, background_poll_seconds=0.05)
    upgrade_database(settings)
    load_master_key(settings, create=True)

    async def scenario() -> None:
        h = Harness(settings.resolved_database_url, tmp_path / "storage")
        background = build_background(settings)
        try:
            await h.start()
            app = await h.repository("ns/app")
            for i in range(1, 4):
                await h.push(app, f"v{i}", i)
            await h.policy("nightly", 2, namespace="ns", keep_tags="^$", schedule="03:00")
            past = datetime.now(UTC) - timedelta(minutes=1)
            async with h.db.write() as session:
                await session.execute(update(RetentionPolicy).values(next_run_at=past))
            running = asyncio.create_task(background.worker.run())
            await JobQueue(h.db, "test").enqueue("retention-schedules", {})
            for _ in range(1200):  # a minute at most: a kind without a handler never runs
                if await h.count(RetentionRun):
                    break
                await asyncio.sleep(0.05)
            background.worker.stop()
            await running
            [run] = (await h.retention.runs(INSTANCE, "nightly", PAGE)).items
            assert (run.trigger, run.status, run.actor) == ("scheduled", "Succeeded", None)
            assert outcome(run, "ns/app").deleted == ["v1"]
            assert (await h.retention.get(INSTANCE, "nightly")).next_run_at > past
        finally:
            await background.stop()
            await h.db.dispose()

    asyncio.run(scenario())
