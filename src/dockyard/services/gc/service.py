"""Online garbage collection: one run at a time per deployment, recorded, in five phases.

1. **uploads**: expired upload sessions and upload bytes no session names.
2. **manifests** (only with an untagged age): manifests no tag points at, older than the
   age, that no index of their repository lists and whose subject is gone.
3. **mark**: blobs no manifest of any repository names, older than the grace period, are
   *condemned* (their time recorded); condemned blobs a manifest names again are acquitted.
4. **sweep**: blobs condemned at least the grace period ago are unlinked from every
   repository (under their row lock, checked again), then their bytes and rows deleted.
5. **orphans**: committed bytes with no blob row (a crash between the rename into the
   store and the commit), older than the grace period.

A blob HEAD/GET, a mount and an upload of a condemned blob lift the condemnation
(``ContentService``), so a client that saw a blob has the grace period to push the
manifest naming it. docs/operations.md gives the whole argument, race by race.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import ConflictError, NotFoundError
from dockyard.metadata.models import GcRun
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import gc as q
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.session import Database
from dockyard.oci.digest import Digest
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.gc.views import (
    DONE,
    FAILED,
    MANUAL,
    PHASES,
    RUNNING,
    SUCCEEDED,
    GcRunView,
    Trigger,
)
from dockyard.services.paging import Page, PageRequest
from dockyard.storage import BlobStore

log = structlog.get_logger(__name__)

RUN_ACTION = "cr:RunGarbageCollection"
#: The job kind that executes a run started through the API.
RUN_JOB_KIND = "gc-run"
#: Rows one write transaction changes at most: SQLite's write lock is held briefly.
BATCH = 200
#: Blob deletions in flight at once during the sweep.
PARALLEL_DELETES = 32
#: Called with a phase's name as it begins (and with ``unlinked`` and ``listed`` inside
#: the sweep and the orphan phase); tests pause the run there. Awaited, so it may block.
PhaseHook = Callable[[str], Awaitable[None]]


class GcRunningError(ConflictError):
    """Another run holds the deployment's GC lease."""


@dataclass(frozen=True, slots=True)
class GcPolicy:
    #: How long content must stay unneeded before it goes, and how long a client that
    #: saw a blob may take to push the manifest naming it.
    grace: timedelta = timedelta(hours=24)
    #: Untagged manifests older than this go; None: they are kept (the default).
    untagged_age: timedelta | None = None
    #: How long the lease of a run lasts without being renewed (each batch renews it).
    lease: timedelta = timedelta(minutes=1)


@dataclass
class _Tally:
    blobs_deleted: int = 0
    bytes_reclaimed: int = 0
    blobs_condemned: int = 0
    manifests_deleted: int = 0
    uploads_purged: int = 0
    orphans_deleted: int = 0

    def columns(self) -> dict[str, int]:
        return dict(vars(self))


async def _no_pause(_phase: str) -> None:
    return None


class GarbageCollector:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        content: ContentService,
        audit: AuditLog,
        policy: GcPolicy = GcPolicy(),
        *,
        clock: Clock = SYSTEM_CLOCK,
        pause: PhaseHook = _no_pause,
    ) -> None:
        self._db = db
        self._store = store
        self._content = content
        self._audit = audit
        self._policy = policy
        self._clock = clock
        self._pause = pause
        #: Runs launched from this process, referenced until they end.

    # ---- runs ------------------------------------------------------------------------

    async def start(
        self,
        *,
        actor: Actor | None,
        dry_run: bool,
        trigger: Trigger = MANUAL,
        resource: str = "*",
        queued: bool = False,
    ) -> GcRunView:
        """Take the deployment's GC lease and record a new run (audited); raises
        :class:`GcRunningError` while another run holds the lease. ``queued``: in the same
        transaction, queue the ``gc-run`` job that a background worker executes it with
        (:meth:`execute_queued`), so the run survives the request and a worker's crash."""
        now = self._clock.now()
        run_id = uuid.uuid4()
        values: dict[str, Any] = {
            "id": run_id,
            "actor": actor.name if actor else None,
            "trigger": trigger,
            "dry_run": dry_run,
            "status": RUNNING,
            "phase": "starting",
            "lease_expires_at": now + self._policy.lease,
            "started_at": now,
            **_Tally().columns(),
        }
        async with self._db.write() as session:
            holder = await q.start_run(session, values, now)
            if holder is not None:
                raise GcRunningError(f"garbage collection run {holder} is in progress")
            detail = {"runId": str(run_id), "dryRun": dry_run, "trigger": trigger}
            await self._audit.change(session, actor, RUN_ACTION, resource, detail)
            if queued:
                jq.add_job(session, RUN_JOB_KIND, {"run": str(run_id)}, now)
        return await self.get(run_id)

    async def execute_queued(self, payload: dict[str, object]) -> GcRunView | None:
        """A ``gc-run`` job: execute its run unless it has ended (a job run again after a
        crash picks the run up from the start, its phases being safe to repeat; a run
        recorded as abandoned meanwhile stays so)."""
        view = await self.get(uuid.UUID(str(payload["run"])))
        if view.status != RUNNING:
            return None
        return await self.execute(view.id)

    async def run(
        self, *, actor: Actor | None, dry_run: bool, trigger: Trigger = MANUAL
    ) -> GcRunView:
        """Start and execute a run to its end (the periodic job, tests)."""
        started = await self.start(actor=actor, dry_run=dry_run, trigger=trigger)
        return await self.execute(started.id)

    async def execute(self, run_id: uuid.UUID) -> GcRunView:
        """Run every phase of a started run, then record how it ended."""
        view = await self.get(run_id)
        tally = _Tally()
        status, error, reached = SUCCEEDED, None, view.phase
        steps = {
            "uploads": self._uploads,
            "manifests": self._manifests,
            "mark": self._mark,
            "sweep": self._sweep,
            "orphans": self._orphans,
        }
        try:
            for phase in PHASES:
                reached = phase
                await self._progress(run_id, tally, phase=phase)
                await self._pause(phase)
                await steps[phase](run_id, tally, view.dry_run)
        except Exception as exc:
            log.exception("garbage collection run failed", run=str(run_id))
            status, error = FAILED, f"{type(exc).__name__}: {exc}"
        async with self._db.write() as session:
            await q.update_run(
                session,
                run_id,
                status=status,
                error=error,
                phase=DONE if status == SUCCEEDED else reached,
                finished_at=self._clock.now(),
                **tally.columns(),
            )
        return await self.get(run_id)

    async def _progress(self, run_id: uuid.UUID, tally: _Tally, **values: Any) -> None:
        """Record the counts so far and renew the lease; stop when the lease was lost."""
        async with self._db.write(durable=False) as session:
            renewed = await q.update_run(
                session,
                run_id,
                lease_expires_at=self._clock.now() + self._policy.lease,
                **tally.columns(),
                **values,
            )
        if not renewed:
            raise GcRunningError("the run lost its lease (recorded as abandoned)")

    async def get(self, run_id: uuid.UUID) -> GcRunView:
        async with self._db.read() as session:
            row = await q.find_run(session, run_id)
            if row is None:
                raise NotFoundError(f"garbage collection run {run_id} not found")
            return _view(row)

    async def runs(self, page: PageRequest) -> Page[GcRunView]:
        """The recorded runs, newest first."""
        async with self._db.read() as session:
            rows, total = await q.list_runs(session, page.offset, page.page_size)
            items = [_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    # ---- phases ----------------------------------------------------------------------

    async def _uploads(self, _run_id: uuid.UUID, tally: _Tally, dry_run: bool) -> None:
        count, size = await self._content.reclaim_uploads(dry_run=dry_run)
        tally.uploads_purged += count
        tally.bytes_reclaimed += size

    async def _manifests(self, run_id: uuid.UUID, tally: _Tally, dry_run: bool) -> None:
        age = self._policy.untagged_age
        if age is None:
            return
        cutoff = self._clock.now() - max(age, self._policy.grace)
        async with self._db.read() as session:
            candidates = await q.untagged_manifests(session, cutoff, cq.NO_LIMIT)
        by_repository: dict[uuid.UUID, list[uuid.UUID]] = {}
        for repository_id, manifest_id in candidates:
            by_repository.setdefault(repository_id, []).append(manifest_id)
        for repository_id, ids in by_repository.items():
            for start in range(0, len(ids), BATCH):
                async with self._db.write() as session:
                    # Locked and checked again: no tag, no index of the repository lists
                    # it, its subject (for a referrer) is gone.
                    doomed = await cq.lock_unreferenced_manifests(
                        session, repository_id, ids[start : start + BATCH]
                    )
                    if not dry_run:
                        await cq.delete_manifests(session, [m for m, _ in doomed])
                tally.manifests_deleted += len(doomed)
                await self._progress(run_id, tally)

    async def _mark(self, run_id: uuid.UUID, tally: _Tally, dry_run: bool) -> None:
        cutoff = self._clock.now() - self._policy.grace
        async with self._db.read() as session:
            candidates = await q.unreferenced_blobs(session, cutoff)
        fresh = [blob_id for blob_id, _, _, condemned in candidates if condemned is None]
        if dry_run:
            tally.blobs_condemned = len(fresh)
            # What the sweep would delete: condemned long enough, or (no grace) all.
            due = [
                size
                for _, _, size, condemned in candidates
                if self._policy.grace == timedelta(0) or (condemned and condemned <= cutoff)
            ]
            tally.blobs_deleted, tally.bytes_reclaimed = len(due), tally.bytes_reclaimed + sum(due)
            return
        async with self._db.read() as session:  # most runs acquit nothing: no write lock
            acquit = await q.any_referenced_condemned(session)
        if acquit:
            async with self._db.write() as session:
                await q.acquit_referenced(session)
        for batch in _batches(fresh):
            async with self._db.write() as session:
                # The time of this statement: a proof racing with it is protected from
                # (about) now on for the whole grace period.
                now = self._clock.now()
                cutoff = now - self._policy.grace
                tally.blobs_condemned += await q.condemn(session, batch, cutoff, now)
            await self._progress(run_id, tally)

    async def _sweep(self, run_id: uuid.UUID, tally: _Tally, dry_run: bool) -> None:
        if dry_run:
            return  # counted by the mark phase
        due_before = self._clock.now() - self._policy.grace
        async with self._db.read() as session:
            due = await q.due_blobs(session, due_before, cq.NO_LIMIT)
        for batch in _batches(due):
            async with self._db.write() as session:
                await q.unlink_due(session, batch, due_before)
            await self._progress(run_id, tally)
        await self._pause("unlinked")
        # The due blobs now unlinked (this run's, and any a crash left between unlink and
        # delete: those are due too): invisible to every client. Bytes go first, under the
        # row lock.
        for batch in _batches(due):
            async with self._db.write() as session:
                rows = await q.lock_unlinked(session, batch)
                await self._delete_bytes([Digest.parse(digest) for _, digest, _ in rows])
                await q.delete_blob_rows(session, [blob_id for blob_id, _, _ in rows])
            tally.blobs_deleted += len(rows)
            tally.bytes_reclaimed += sum(size for _, _, size in rows)
            await self._progress(run_id, tally)

    async def _delete_bytes(self, digests: Sequence[Digest]) -> None:
        """Delete blobs' bytes, :data:`PARALLEL_DELETES` at a time: the caller holds row
        locks (on SQLite, the write lock) until they are gone, and S3 answers each delete
        in a round trip."""
        for start in range(0, len(digests), PARALLEL_DELETES):
            chunk = digests[start : start + PARALLEL_DELETES]
            await asyncio.gather(*(self._store.delete(digest) for digest in chunk))

    async def _orphans(self, run_id: uuid.UUID, tally: _Tally, dry_run: bool) -> None:
        now = self._clock.now()
        listed = await self._store.list_blobs()
        await self._pause("listed")
        old_before = (now - self._policy.grace).timestamp()
        old = [blob for blob in listed if blob.modified < old_before]
        for start in range(0, len(old), BATCH):
            batch = old[start : start + BATCH]
            async with self._db.read() as session:
                known = await q.known_digests(session, [str(b.digest) for b in batch])
            orphans = [b for b in batch if str(b.digest) not in known]
            if not orphans:
                continue
            if dry_run:
                tally.orphans_deleted += len(orphans)
                tally.bytes_reclaimed += sum(b.size for b in orphans)
                continue
            async with self._db.write() as session:
                held = {}
                for blob in orphans:
                    placeholder = await q.hold_orphan(session, str(blob.digest), blob.size, now)
                    if placeholder is not None:  # else linked meanwhile: not an orphan
                        held[placeholder] = blob
                await self._delete_bytes([blob.digest for blob in held.values()])
                await q.delete_blob_rows(session, list(held))
            tally.orphans_deleted += len(held)
            tally.bytes_reclaimed += sum(blob.size for blob in held.values())
            await self._progress(run_id, tally)


def _batches(ids: Sequence[uuid.UUID]) -> list[list[uuid.UUID]]:
    return [list(ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]


def _view(row: GcRun) -> GcRunView:
    return GcRunView(
        id=row.id,
        actor=row.actor,
        trigger=row.trigger,
        dry_run=row.dry_run,
        status=row.status,
        phase=row.phase,
        blobs_deleted=row.blobs_deleted,
        bytes_reclaimed=row.bytes_reclaimed,
        blobs_condemned=row.blobs_condemned,
        manifests_deleted=row.manifests_deleted,
        uploads_purged=row.uploads_purged,
        orphans_deleted=row.orphans_deleted,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
