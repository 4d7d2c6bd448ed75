"""Runs replication tasks: the handler of the ``replication-task`` job kind.

A task is a state machine persisted in ``replication_tasks``: ``Waiting`` (queued, or
between attempts), ``Running``, then ``Completed``, ``Failed`` or ``Cancelled``. The job
queue gives at-least-once execution, so a run is idempotent: every blob is looked for at
the destination first (HEAD) and recorded ``already present`` when there, so a task
interrupted by a crash resumes where it was and sends no layer twice. Blobs go before the
manifests that name them, an index's children before the index, and the referrers of
each manifest (signatures, SBOMs) after their subject, byte for byte, so digests at the
destination equal the source's. To another instance of this deployment, the metadata
occurrences over the copied manifests follow (``signing.replicas``).

Before anything is written the destination tag is checked: holding another image, it is
left alone unless the task overwrites, and an immutable instance of this deployment
refuses; either way the task fails with the reason and nothing is written. A remote says
it is immutable only when the manifest is pushed: its blobs are there by then, its tag is
untouched.

A task whose job the queue gives up (its worker stopped during every attempt) is
recorded ``Failed`` with the queue's reason (``task_given_up``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK
from dockyard.errors import DockyardError
from dockyard.metadata.models import ReplicationTask
from dockyard.metadata.queries import replication as q
from dockyard.metadata.session import Database
from dockyard.oci.manifest import parse_manifest
from dockyard.oci.mediatypes import is_foreign
from dockyard.oci.reference import RepositoryName
from dockyard.services.content import IMMUTABLE_TAG_MESSAGE, ContentService, ManifestUnknownError
from dockyard.services.jobs import JobRun
from dockyard.services.replication.destinations import (
    DESTINATION_IMMUTABLE,
    SOURCE_MANIFEST_UNKNOWN,
    BlobBody,
    Destination,
    DestinationError,
    InstanceDestination,
    RemoteConnector,
)
from dockyard.services.replication.views import (
    ALREADY_PRESENT,
    CANCELLED,
    COMPLETED,
    COPIED,
    FAILED,
    FINAL_STATES,
    LAYER_FAILED,
    LAYER_WAITING,
    RUNNING,
    TO_INSTANCE,
    WAITING,
    RemoteEndpoint,
)
from dockyard.services.signing.oci import cosign_tag
from dockyard.services.signing.replicas import carry_occurrences
from dockyard.services.tenancy import RepositoryRef, TenancyService

TASK_JOB_KIND = "replication-task"
#: Attempts at a task whose destination fails in a way that may pass (unreachable, 5xx)
#: before it is recorded ``Failed``; the queue's backoff spaces them.
MAX_TASK_ATTEMPTS = 3


async def task_given_up(session: AsyncSession, run: JobRun, error: str) -> None:
    """The queue gave up the task's job (its worker stopped during every attempt, as in
    repeated crashes): the task ends ``Failed`` with why, rather than staying ``Running``.
    Runs in the transaction that marks the job failed (and leases others): a payload
    naming no task changes nothing rather than failing that transaction."""
    try:
        task_id = uuid.UUID(str(run.payload.get("task")))
    except ValueError:
        return
    task = await q.find_task(session, task_id, for_update=True)
    if task is None or task.status in FINAL_STATES:
        return
    task.status, task.finished_at = FAILED, SYSTEM_CLOCK.now()
    task.reason = f"given up after {run.attempt} attempts: {error}"


class RetryLaterError(Exception):
    """This attempt failed in a way that may pass: the job queue runs the task again."""


class TaskCancelledError(Exception):
    """The task was cancelled while it ran: stop between two blobs."""


@dataclass
class _Manifest:
    digest: str
    body: bytes
    media_type: str
    #: The manifest it refers to, for a referrer; with its descriptor for the fallback tag.
    subject: str | None = None
    descriptor: dict[str, Any] = field(default_factory=dict)
    #: The tag it is pushed under: cosign's ``sha256-<hex>.sig`` for its subject.
    tag: str | None = None


@dataclass
class _Plan:
    """What a task writes, in order: blobs, then manifests children first."""

    blobs: dict[str, int] = field(default_factory=dict)
    manifests: list[_Manifest] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


class ReplicationRunner:
    def __init__(
        self,
        db: Database,
        tenancy: TenancyService,
        content: ContentService,
        remotes: RemoteConnector,
        open_remote: Callable[[str, str], Awaitable[RemoteEndpoint]],
    ) -> None:
        self._db = db
        self._tenancy = tenancy
        self._content = content
        self._remotes = remotes
        #: (instance id, remote name) → the remote with its secret opened.
        self._open_remote = open_remote

    async def run(self, job: JobRun) -> None:
        """One attempt at the task of ``job``; raising lets the queue try it again later."""
        task_id = uuid.UUID(str(job.payload["task"]))
        task = await self._start(task_id)
        if task is None:
            return
        try:
            await self._replicate(task)
        except TaskCancelledError:
            return
        except DestinationError as exc:
            await self._failed(job, task_id, str(exc), retryable=exc.retryable)
            return
        except DockyardError as exc:  # refused here (an edition, a limit, a bad manifest)
            await self._failed(job, task_id, exc.message, retryable=False)
            return
        except Exception as exc:
            # A database or storage outage: the task says why while the queue retries.
            await self._failed(job, task_id, f"{type(exc).__name__}: {exc}", retryable=True)
            return
        await self._finish(task_id, COMPLETED, None)

    async def _failed(
        self, job: JobRun, task_id: uuid.UUID, reason: str, *, retryable: bool
    ) -> None:
        """Record the failure: ``Failed`` for good, or ``Waiting`` again (then raising, so
        the queue retries it after its backoff) while attempts remain."""
        if retryable and job.attempt < MAX_TASK_ATTEMPTS:
            await self._finish(task_id, WAITING, reason, final=False)
            raise RetryLaterError(reason)
        await self._finish(task_id, FAILED, reason)

    async def _start(self, task_id: uuid.UUID) -> ReplicationTask | None:
        async with self._db.write() as session:
            task = await q.find_task(session, task_id, for_update=True)
            if task is None or task.status in FINAL_STATES:
                return None
            task.status = RUNNING
            task.started_at = task.started_at or SYSTEM_CLOCK.now()
            return task

    async def _finish(
        self, task_id: uuid.UUID, status: str, reason: str | None, *, final: bool = True
    ) -> None:
        async with self._db.write() as session:
            task = await q.find_task(session, task_id, for_update=True)
            if task is None or task.status == CANCELLED:
                return
            task.status, task.reason = status, reason
            if final:
                task.finished_at = SYSTEM_CLOCK.now()

    async def _replicate(self, task: ReplicationTask) -> None:
        source = await self._tenancy.find_repository(
            task.instance_id, RepositoryName.parse(task.source_repository)
        )
        if source is None:
            raise DestinationError(
                SOURCE_MANIFEST_UNKNOWN, f"repository {task.source_repository} is gone"
            )
        top = await self._source_manifest(source, task.source_tag)
        async with self._db.write() as session:
            row = await q.find_task(session, task.id)
            if row is not None:
                row.source_digest = top.digest
        plan = _Plan()
        await self._collect(source, top, plan)
        destination = await self._open(task, source)
        try:
            await self._check_tag(task, destination, top.digest)
            await self._plan_layers(task.id, plan)
            for digest, size in plan.blobs.items():
                await self._copy_blob(task.id, source, destination, digest, size)
            for manifest in plan.manifests:
                await self._check_cancelled(task.id)
                if manifest.subject is not None:
                    await destination.put_referrer(
                        manifest.subject,
                        manifest.digest,
                        manifest.body,
                        manifest.media_type,
                        manifest.descriptor,
                    )
                elif manifest.tag is not None:
                    await destination.put_manifest(manifest.tag, manifest.body, manifest.media_type)
                elif manifest.digest == top.digest:
                    await destination.put_manifest(
                        task.destination_tag, manifest.body, manifest.media_type
                    )
                else:
                    await destination.put_manifest(
                        manifest.digest, manifest.body, manifest.media_type
                    )
            if isinstance(destination, InstanceDestination):
                digests = [manifest.digest for manifest in plan.manifests]
                await carry_occurrences(self._db, source, destination.target, digests)
        finally:
            await destination.aclose()

    async def _open(self, task: ReplicationTask, source: RepositoryRef) -> Destination:
        if task.destination_kind == TO_INSTANCE:
            return await InstanceDestination.open(
                self._tenancy,
                self._content,
                source,
                task.destination,
                task.destination_repository,
            )
        remote = await self._open_remote(task.instance_id, task.destination)
        return await self._remotes.open(remote, task.destination_repository)

    async def _source_manifest(self, source: RepositoryRef, reference: str) -> _Manifest:
        try:
            view = await self._content.get_manifest(source, reference)
        except ManifestUnknownError as exc:
            raise DestinationError(SOURCE_MANIFEST_UNKNOWN, exc.message) from exc
        return _Manifest(view.digest, view.content, view.media_type)

    async def _collect(self, source: RepositoryRef, manifest: _Manifest, plan: _Plan) -> None:
        """Add ``manifest``, what it names, its referrers and its cosign signatures (the
        ``sha256-<hex>.sig`` tag) to ``plan``, children first."""
        if manifest.digest in plan.seen:
            return
        plan.seen.add(manifest.digest)
        parsed = parse_manifest(manifest.body, manifest.media_type)
        for child in parsed.children:
            await self._collect(source, await self._source_manifest(source, child.digest), plan)
        for blob in (parsed.config, *parsed.layers):
            if blob is not None and not is_foreign(blob.media_type):  # foreign: not stored
                plan.blobs.setdefault(blob.digest, blob.size)
        plan.manifests.append(manifest)
        for descriptor in await self._content.referrers(source, manifest.digest, None):
            referrer = await self._source_manifest(source, str(descriptor["digest"]))
            referrer.subject, referrer.descriptor = manifest.digest, descriptor
            await self._collect(source, referrer, plan)
        try:
            signatures = await self._source_manifest(source, cosign_tag(manifest.digest))
        except DestinationError:  # no cosign signature under the tag scheme
            return
        signatures.tag = cosign_tag(manifest.digest)
        await self._collect(source, signatures, plan)

    async def _check_tag(
        self, task: ReplicationTask, destination: Destination, digest: str
    ) -> None:
        current = await destination.tag_digest(task.destination_tag)
        if current is None or current == digest:
            return
        if not task.overwrite:
            raise DestinationError(
                f"destination tag {task.destination_tag} holds another image ({current}) "
                "and overwrite is off"
            )
        if await destination.immutable():
            raise DestinationError(DESTINATION_IMMUTABLE, IMMUTABLE_TAG_MESSAGE)

    async def _plan_layers(self, task_id: uuid.UUID, plan: _Plan) -> None:
        async with self._db.write() as session:
            known = {row.digest for row in await q.task_layers(session, task_id)}
            for digest, size in plan.blobs.items():
                if digest not in known:
                    await q.record_layer(session, task_id, digest, size, LAYER_WAITING, None)

    async def _check_cancelled(self, task_id: uuid.UUID) -> None:
        async with self._db.read() as session:
            task = await q.find_task(session, task_id)
        if task is None or task.status == CANCELLED:
            raise TaskCancelledError

    async def _copy_blob(
        self,
        task_id: uuid.UUID,
        source: RepositoryRef,
        destination: Destination,
        digest: str,
        size: int,
    ) -> None:
        await self._check_cancelled(task_id)
        sent = 0
        try:
            if await destination.has_blob(digest):
                status = ALREADY_PRESENT
            elif await destination.mount_blob(digest, await self._holders(task_id, digest)):
                status = COPIED
            else:
                await destination.push_blob(digest, size, await self._blob_body(source, digest))
                status, sent = COPIED, size
        except DestinationError as exc:
            await self._record(task_id, digest, size, LAYER_FAILED, str(exc), 0)
            raise
        await self._record(task_id, digest, size, status, None, sent)

    async def _holders(self, task_id: uuid.UUID, digest: str) -> list[str]:
        async with self._db.read() as session:
            task = await q.find_task(session, task_id)
            if task is None:
                return []
            found = await q.repositories_holding(
                session, task.instance_id, task.destination, digest, (COPIED, ALREADY_PRESENT)
            )
            return [name for name in found if name != task.destination_repository]

    async def _blob_body(self, source: RepositoryRef, digest: str) -> BlobBody:
        try:
            size = await self._content.stat_blob(source, digest)
        except DockyardError as exc:
            raise DestinationError(SOURCE_MANIFEST_UNKNOWN, exc.message) from exc
        return partial(self._content.blob_stream, digest, 0, size)

    async def _record(
        self, task_id: uuid.UUID, digest: str, size: int, status: str, reason: str | None, sent: int
    ) -> None:
        async with self._db.write() as session:
            await q.record_layer(session, task_id, digest, size, status, reason)
            task = await q.find_task(session, task_id)
            if task is not None:
                task.bytes_sent += sent
