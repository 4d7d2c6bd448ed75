"""Replication as the faces see it: remotes, and tasks created, listed, cancelled and
retried (PRODUCT.md §6). The background worker runs the tasks (``runner``).

Manual replication to another instance of this deployment works on both editions; a
remote (another Dockyard deployment, any OCI registry) is cross-account replication,
Advanced only. A remote's secret is sealed with the master key and never returned.
"""

from __future__ import annotations

import re
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DeniedError,
    InvalidInputError,
    NotFoundError,
)
from dockyard.metadata.models import ReplicationRemote, ReplicationTask
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import replication as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.oci.reference import RepositoryName, validate_tag
from dockyard.services.access import PUSH, actions
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.paging import Page, PageRequest
from dockyard.services.replication.runner import TASK_JOB_KIND
from dockyard.services.replication.views import (
    CANCELLED,
    FAILED,
    RUNNING,
    TASK_STATES,
    TO_INSTANCE,
    TO_REMOTE,
    WAITING,
    LayerView,
    RemoteEndpoint,
    RemoteSpec,
    RemoteView,
    ReplicationRequest,
    TaskView,
    check_tag_regex,
    tag_matches,
)
from dockyard.services.secrets import MasterKey
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.services.tenancy.editions import Feature, require_feature

SECRET_PURPOSE = "replication-remote"  # noqa: S105 - a key-derivation label
CREATE_REMOTE_ACTION = "cr:CreateReplicationRemote"
DELETE_REMOTE_ACTION = "cr:DeleteReplicationRemote"
CREATE_TASK_ACTION = "cr:CreateRepoSyncTask"
CANCEL_TASK_ACTION = "cr:CancelRepoSyncTask"
#: Whether the caller may do an action (first) on a resource (second); a no is not audited.
Allows = Callable[[str, str], bool]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: At most this many tasks from one tag regex (one per tag).
MAX_TAGS_PER_REQUEST = 100


class ReplicationService:
    def __init__(
        self,
        db: Database,
        master: MasterKey,
        tenancy: TenancyService,
        content: ContentService,
        audit: AuditLog,
    ) -> None:
        self._db = db
        self._master = master
        self._tenancy = tenancy
        self._content = content
        self._audit = audit

    # ---- remotes ---------------------------------------------------------------------

    async def add_remote(
        self, instance_id: str, spec: RemoteSpec, *, actor: Actor | None, resource: str
    ) -> RemoteView:
        require_feature(
            await self._tenancy.instance_ref(instance_id), Feature.CROSS_ACCOUNT_REPLICATION
        )
        if not _NAME.fullmatch(spec.name):
            raise InvalidInputError("a remote's name is 1-64 of letters, digits, '-', '_'")
        try:
            url = urlsplit(spec.url)
            host = url.hostname
        except ValueError:  # a malformed IPv6 literal, or port
            host = None
        if host is None or url.scheme not in ("http", "https"):
            raise InvalidInputError("the URL must be https://host[:port] (or http:// written out)")
        if not spec.username or not spec.secret:
            raise InvalidInputError("a remote needs a user name (or access key id) and its secret")
        if spec.ca_bundle:
            try:
                ssl.create_default_context(cadata=spec.ca_bundle)
            except (ssl.SSLError, ValueError) as exc:
                raise InvalidInputError(f"the CA bundle is not PEM certificates: {exc}") from exc
        async with self._db.write() as session:
            if await q.find_remote(session, instance_id, spec.name) is not None:
                raise AlreadyExistsError(f"remote {spec.name} already exists")
            row = ReplicationRemote(
                id=uuid.uuid4(),
                instance_id=instance_id,
                name=spec.name,
                url=spec.url.rstrip("/"),
                remote_instance=spec.remote_instance or None,
                username=spec.username,
                secret_ciphertext=self._master.encrypt(spec.secret.encode(), SECRET_PURPOSE),
                ca_bundle=spec.ca_bundle or None,
                created_at=SYSTEM_CLOCK.now(),
            )
            session.add(row)
            await self._audit.change(
                session,
                actor,
                CREATE_REMOTE_ACTION,
                resource,
                {"remote": spec.name, "url": row.url},
            )
            return _remote_view(row)

    async def list_remotes(self, instance_id: str, page: PageRequest) -> Page[RemoteView]:
        await self._tenancy.instance_ref(instance_id)
        async with self._db.read() as session:
            rows, total = await q.list_remotes(session, instance_id, page.offset, page.page_size)
            items = [_remote_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def remove_remote(
        self, instance_id: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        async with self._db.write() as session:
            row = await q.find_remote(session, instance_id, name)
            if row is None:
                raise NotFoundError(f"remote {name} does not exist")
            await q.delete_remote(session, row.id)
            await self._audit.change(
                session, actor, DELETE_REMOTE_ACTION, resource, {"remote": name}
            )

    async def remote_endpoint(self, instance_id: str, name: str) -> RemoteEndpoint:
        """The remote with its secret opened, for the background worker only."""
        async with self._db.read() as session:
            row = await q.find_remote(session, instance_id, name)
        if row is None:
            raise NotFoundError(f"remote {name} does not exist")
        secret = self._master.decrypt(row.secret_ciphertext, SECRET_PURPOSE).decode()
        return RemoteEndpoint(row.url, row.username, secret, row.ca_bundle)

    # ---- tasks -----------------------------------------------------------------------

    async def replicate(
        self,
        instance_id: str,
        request: ReplicationRequest,
        *,
        actor: Actor | None,
        resource: str,
    ) -> list[TaskView]:
        """One task per tag (the tag, or every tag matching the regex), queued at once."""
        source = RepositoryName.parse(request.repository)
        repo = await self._tenancy.repository_ref(instance_id, source.namespace, source.repository)
        tags = await self._tags(repo, request)
        kind = await self.destination_kind(instance_id, request.to)
        target = RepositoryName.parse(
            f"{request.namespace or source.namespace}/"
            f"{request.destination_repository or source.repository}"
        )
        if kind == TO_INSTANCE and request.to == instance_id and target == source:
            raise InvalidInputError("the destination is the source repository itself")
        now = SYSTEM_CLOCK.now()
        views = []
        async with self._db.write() as session:
            for tag in tags:
                row = queue_task(
                    session,
                    TaskSource(instance_id, repo.full_name, tag),
                    TaskTarget(request.to, kind, str(target), request.destination_tag or tag),
                    overwrite=request.overwrite,
                    created_by=actor.name if actor else None,
                    now=now,
                )
                views.append(_task_view(row, ()))
            await self._audit.change(
                session,
                actor,
                CREATE_TASK_ACTION,
                resource,
                {"tags": tags, "to": request.to, "repository": str(target)},
            )
        return views

    async def _tags(self, repo: RepositoryRef, request: ReplicationRequest) -> list[str]:
        if (request.tag is None) == (request.tags is None):
            raise InvalidInputError("name either one tag or a tag regex (tags)")
        if request.tag is not None:
            tag = validate_tag(request.tag)
            await self._content.get_manifest(repo, tag)  # 404 when the tag is not there
            return [tag]
        if request.destination_tag:
            raise InvalidInputError("a destination tag goes with one tag, not a tag regex")
        pattern = check_tag_regex(request.tags or "")
        names = sorted(p.name for p in await self._content.tag_pointers(repo))
        matched = [name for name in names if tag_matches(pattern, name)]
        if not matched:
            raise NotFoundError(f"no tag of {repo.full_name} matches {request.tags!r}")
        if len(matched) > MAX_TAGS_PER_REQUEST:
            raise InvalidInputError(
                f"{len(matched)} tags match; at most {MAX_TAGS_PER_REQUEST} per request"
            )
        return matched

    async def destination_kind(self, instance_id: str, to: str) -> str:
        """``instance`` when ``to`` is an instance of this deployment, else ``remote``."""
        async with self._db.read() as session:
            if await tq.find_instance(session, to) is not None:
                return TO_INSTANCE
            remote = await q.find_remote(session, instance_id, to)
        if remote is None:
            raise NotFoundError(f"{to} is neither an instance nor a remote of {instance_id}")
        require_feature(
            await self._tenancy.instance_ref(instance_id), Feature.CROSS_ACCOUNT_REPLICATION
        )
        return TO_REMOTE

    async def require_push_at(
        self,
        instance_id: str,
        to: str,
        target: tuple[str, str],
        *,
        allows: Allows,
        actor: Actor,
    ) -> None:
        """Refuse (and audit the refusal) replicating from ``instance_id`` to the other
        instance ``to``, repository ``target`` (namespace, name) there, unless the caller
        may push there; ``allows`` is the face's policy decision. A remote passes: its
        own user's rights decide there."""
        if await self.destination_kind(instance_id, to) != TO_INSTANCE:
            return
        resource = actions.repository_arn(await self._tenancy.instance_ref(to), *target)
        if not allows(PUSH, resource):
            await self._audit.denied(actor, PUSH, resource)
            raise DeniedError(f"{actor.name} is not allowed {PUSH} on {resource}")

    async def list_tasks(
        self,
        instance_id: str,
        page: PageRequest,
        *,
        status: str | None = None,
        repository: str | None = None,
        tag: str | None = None,
    ) -> Page[TaskView]:
        if status is not None and status not in TASK_STATES:
            raise InvalidInputError(f"status must be one of {', '.join(TASK_STATES)}")
        await self._tenancy.instance_ref(instance_id)
        async with self._db.read() as session:
            rows, total = await q.list_tasks(
                session,
                instance_id,
                page.offset,
                page.page_size,
                status=status,
                repository=repository,
                tag=tag,
            )
            items = [_task_view(row, ()) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def find_task(self, instance_id: str, task_id: uuid.UUID) -> TaskView | None:
        """The task with its layer rows; None when the instance has no such task."""
        async with self._db.read() as session:
            row = await q.find_task(session, task_id)
            if row is None or row.instance_id != instance_id:
                return None
            layers = await q.task_layers(session, task_id)
            return _task_view(
                row, tuple(LayerView(r.digest, r.size, r.status, r.reason) for r in layers)
            )

    async def cancel_task(
        self, instance_id: str, task_id: uuid.UUID, *, actor: Actor | None, resource: str
    ) -> TaskView:
        """Stop a waiting or running task (a running one stops before its next blob)."""
        async with self._db.write() as session:
            row = await _task_of(session, instance_id, task_id)
            if row.status not in (WAITING, RUNNING):
                raise ConflictError(
                    f"task {task_id} is {row.status}; only waiting or running tasks are cancelled"
                )
            row.status, row.finished_at = CANCELLED, SYSTEM_CLOCK.now()
            await self._audit.change(
                session, actor, CANCEL_TASK_ACTION, resource, {"task": str(task_id)}
            )
            return _task_view(row, ())

    async def retry_task(
        self, instance_id: str, task_id: uuid.UUID, *, actor: Actor | None, resource: str
    ) -> TaskView:
        """Run a failed or cancelled task again; blobs already sent are not sent again."""
        now = SYSTEM_CLOCK.now()
        async with self._db.write() as session:
            row = await _task_of(session, instance_id, task_id)
            if row.status not in (FAILED, CANCELLED):
                raise ConflictError(
                    f"task {task_id} is {row.status}; only failed or cancelled tasks are retried"
                )
            row.status, row.reason, row.finished_at = WAITING, None, None
            jq.add_job(session, TASK_JOB_KIND, {"task": str(row.id)}, now)
            await self._audit.change(
                session, actor, CREATE_TASK_ACTION, resource, {"task": str(task_id), "retry": True}
            )
            return _task_view(row, ())


@dataclass(frozen=True, slots=True)
class TaskSource:
    instance_id: str
    repository: str
    tag: str


@dataclass(frozen=True, slots=True)
class TaskTarget:
    """An instance id or a remote's name (``kind``), and the repository and tag there."""

    destination: str
    kind: str
    repository: str
    tag: str


def queue_task(
    session: AsyncSession,
    source: TaskSource,
    target: TaskTarget,
    *,
    overwrite: bool,
    created_by: str | None,
    now: datetime,
    rule: str | None = None,
    event_id: uuid.UUID | None = None,
) -> ReplicationTask:
    """A ``Waiting`` task and the job that runs it, in the caller's transaction."""
    row = ReplicationTask(
        id=uuid.uuid4(),
        instance_id=source.instance_id,
        source_repository=source.repository,
        source_tag=source.tag,
        destination=target.destination,
        destination_kind=target.kind,
        destination_repository=target.repository,
        destination_tag=target.tag,
        overwrite=overwrite,
        status=WAITING,
        bytes_sent=0,
        created_by=created_by,
        rule=rule,
        event_id=event_id,
        created_at=now,
    )
    session.add(row)
    jq.add_job(session, TASK_JOB_KIND, {"task": str(row.id)}, now)
    return row


async def _task_of(session: AsyncSession, instance_id: str, task_id: uuid.UUID) -> ReplicationTask:
    """The instance's task, locked for a change; else 404."""
    row = await q.find_task(session, task_id, for_update=True)
    if row is None or row.instance_id != instance_id:
        raise NotFoundError(f"replication task {task_id} does not exist")
    return row


def _remote_view(row: ReplicationRemote) -> RemoteView:
    return RemoteView(
        row.name,
        row.url,
        row.remote_instance,
        row.username,
        row.ca_bundle is not None,
        row.created_at,
    )


def _task_view(row: ReplicationTask, layers: Sequence[LayerView]) -> TaskView:
    return TaskView(
        row.id,
        row.source_repository,
        row.source_tag,
        row.source_digest,
        row.destination,
        row.destination_kind,
        row.destination_repository,
        row.destination_tag,
        row.overwrite,
        row.status,
        row.reason,
        row.bytes_sent,
        row.created_by,
        row.rule,
        row.created_at,
        row.started_at,
        row.finished_at,
        tuple(layers),
    )
