"""Triggers of a repository: create, read, change, delete, ping; the log and redelivery.

The faces resolve the repository first (``TenancyService.repository_ref``: an unknown one is
the usual not-found error) and authorize on its ARN; this service checks every field
before it writes anything, so a refused request leaves nothing half-saved. Changes are
audited in their own transaction, never with the secret. A generated secret is returned
once, by the change that made it; afterwards views say only ``has_secret``.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from dockyard.metadata.models import Trigger, TriggerDelivery
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.queries import triggers as q
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.batches import PRUNE_BATCH, PRUNE_MAX_BATCHES, delete_in_batches
from dockyard.services.paging import Page, PageRequest
from dockyard.services.secrets import MasterKey
from dockyard.services.tenancy import RepositoryRef
from dockyard.services.triggers.delivery import (
    SECRET_PURPOSE,
    delivery_job,
    delivery_payload,
    new_record,
)
from dockyard.services.triggers.rules import check_match_rule, check_name, check_url, mask_url
from dockyard.services.triggers.views import (
    STATUSES,
    TriggerChanges,
    TriggerRecordView,
    TriggerSpec,
    TriggerView,
)

#: Every push writes one log record per trigger: keep that bounded.
MAX_TRIGGERS_PER_REPOSITORY = 100
CREATE_ACTION = "cr:CreateRepoTrigger"
UPDATE_ACTION = "cr:UpdateWebHook"
DELETE_ACTION = "cr:DeleteRepoTrigger"


class TriggersService:
    def __init__(
        self, db: Database, master: MasterKey, audit: AuditLog, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._db = db
        self._master = master
        self._audit = audit
        self._clock = clock

    # ---- triggers ------------------------------------------------------------------------

    async def create(
        self, repo: RepositoryRef, spec: TriggerSpec, *, actor: Actor | None, resource: str
    ) -> TriggerView:
        name = check_name(spec.name)
        url = check_url(spec.url)
        rule = check_match_rule(spec.mode, spec.expression, spec.tags)
        secret = _new_secret() if spec.secret else None
        now = self._clock.now()
        row = Trigger(
            id=uuid.uuid4(),
            instance_id=repo.instance_id,
            repository_id=repo.id,
            name=name,
            url=url,
            mode=rule.mode,
            expression=rule.expression,
            tags=list(rule.tags),
            cloudevents=spec.cloudevents,
            secret_encrypted=self._encrypt(secret),
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.write() as session:
                existing = await q.list_triggers(session, repo.id)
                if any(t.name == name for t in existing):
                    raise _exists(repo, name)
                if len(existing) >= MAX_TRIGGERS_PER_REPOSITORY:
                    raise LimitExceededError(
                        f"a repository has at most {MAX_TRIGGERS_PER_REPOSITORY} triggers"
                    )
                session.add(row)
                await session.flush()
                await self._audit.change(
                    session, actor, CREATE_ACTION, resource, _audit_detail(repo, row)
                )
        except IntegrityError as exc:  # a concurrent create of the same name won
            raise _exists(repo, name) from exc
        return _view(row, reveal=True, secret=secret)

    async def list_triggers(
        self, repo: RepositoryRef, page: PageRequest, *, reveal: bool
    ) -> Page[TriggerView]:
        """The repository's triggers by name; URLs masked unless ``reveal``."""
        async with self._db.read() as session:
            rows = await q.list_triggers(session, repo.id)
        chosen = rows[page.offset : page.offset + page.page_size]
        items = [_view(row, reveal=reveal) for row in chosen]
        return Page(items, page.page, page.page_size, len(rows))

    async def get(self, repo: RepositoryRef, name: str, *, reveal: bool) -> TriggerView:
        async with self._db.read() as session:
            row = await self._trigger(session, repo, name)
        return _view(row, reveal=reveal)

    async def update(
        self,
        repo: RepositoryRef,
        name: str,
        changes: TriggerChanges,
        *,
        actor: Actor | None,
        resource: str,
    ) -> TriggerView:
        url = check_url(changes.url) if changes.url is not None else None
        secret = _new_secret() if changes.secret else None
        async with self._db.write() as session:
            row = await self._trigger(session, repo, name)
            mode = changes.mode or row.mode
            same_mode = mode == row.mode
            expression = changes.expression
            if expression is None and same_mode:
                expression = row.expression
            tags = changes.tags
            if tags is None and same_mode and mode == "tags":
                tags = list(row.tags)
            rule = check_match_rule(mode, expression, tags)
            if url is not None:
                row.url = url
            row.mode, row.expression, row.tags = rule.mode, rule.expression, list(rule.tags)
            if changes.cloudevents is not None:
                row.cloudevents = changes.cloudevents
            if changes.secret is not None:
                row.secret_encrypted = self._encrypt(secret)
            row.updated_at = self._clock.now()
            await session.flush()
            detail = _audit_detail(repo, row)
            if changes.secret is not None:
                detail["secret"] = "generated" if changes.secret else "removed"
            await self._audit.change(session, actor, UPDATE_ACTION, resource, detail)
            return _view(row, reveal=True, secret=secret)

    async def delete(
        self, repo: RepositoryRef, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        """The trigger goes; its log records stay (with its name) until retention ends."""
        async with self._db.write() as session:
            row = await self._trigger(session, repo, name)
            await q.delete_trigger(session, row.id)
            detail = {"repository": repo.full_name, "trigger": name}
            await self._audit.change(session, actor, DELETE_ACTION, resource, detail)

    async def _trigger(self, session: AsyncSession, repo: RepositoryRef, name: str) -> Trigger:
        row = await q.find_trigger(session, repo.id, name)
        if row is None:
            raise NotFoundError(f"trigger {name} of {repo.full_name} does not exist")
        return row

    def _encrypt(self, secret: str | None) -> bytes | None:
        return self._master.encrypt(secret.encode(), SECRET_PURPOSE) if secret else None

    # ---- deliveries on demand ------------------------------------------------------------

    async def ping(
        self, repo: RepositoryRef, name: str, *, actor: Actor | None, resource: str
    ) -> TriggerRecordView:
        """A test delivery to one trigger, whatever its mode: queued now, logged as a ping."""
        now = self._clock.now()
        async with self._db.write() as session:
            trigger = await self._trigger(session, repo, name)
            instance = await tq.find_instance(session, repo.instance_id)
            payload = delivery_payload(
                instance=repo.instance_id,
                region=instance.region if instance else "",
                full_name=repo.full_name,
                tag=None,
                digest=None,
                media_type=None,
                pushed_at=now,
                pushed_by=actor.name if actor else None,
            )
            record = self._pending(repo, trigger, payload, ping=True)
            await self._audit.change(
                session,
                actor,
                UPDATE_ACTION,
                resource,
                {"repository": repo.full_name, "trigger": name, "ping": str(record.id)},
            )
            return self._queue(session, record)

    async def redeliver(
        self, repo: RepositoryRef, record_id: uuid.UUID, *, actor: Actor | None, resource: str
    ) -> TriggerRecordView:
        """Send a logged delivery again, as a new record (new id, ``redelivery_of`` the old)."""
        async with self._db.write() as session:
            original = await q.get_record(session, record_id)
            if original is None or original.repository_id != repo.id:
                raise NotFoundError(f"delivery {record_id} of {repo.full_name} does not exist")
            trigger = (
                await q.get_trigger(session, original.trigger_id) if original.trigger_id else None
            )
            if trigger is None:
                raise ConflictError(f"the trigger {original.trigger_name} was deleted")
            record = self._pending(repo, trigger, dict(original.payload), ping=original.ping)
            record.redelivery_of = original.id
            await self._audit.change(
                session,
                actor,
                UPDATE_ACTION,
                resource,
                {
                    "repository": repo.full_name,
                    "trigger": trigger.name,
                    "redelivery": str(record.id),
                    "of": str(original.id),
                },
            )
            return self._queue(session, record)

    def _pending(
        self, repo: RepositoryRef, trigger: Trigger, payload: dict[str, object], *, ping: bool
    ) -> TriggerDelivery:
        values = new_record(
            uuid.uuid4(),
            repo.instance_id,
            repo.id,
            trigger,
            payload,
            self._clock.now(),
            ping=ping,
        )
        return TriggerDelivery(**values)

    def _queue(self, session: AsyncSession, record: TriggerDelivery) -> TriggerRecordView:
        q.add_record(session, record)
        delivery_job(session, record.id, 1, record.created_at)
        return record_view(record)

    # ---- the log -------------------------------------------------------------------------

    async def log(
        self,
        repo: RepositoryRef,
        page: PageRequest,
        *,
        trigger: str | None = None,
        status: str | None = None,
    ) -> Page[TriggerRecordView]:
        """The repository's trigger log, newest first, optionally one trigger or status."""
        if status is not None and status not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
        async with self._db.read() as session:
            rows, total = await q.list_records(
                session,
                repo.id,
                trigger=trigger,
                status=status,
                offset=page.offset,
                limit=page.page_size,
            )
            items = [record_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def prune_log(self, retention: timedelta) -> int:
        """Delete finished records older than ``retention`` in bounded batches."""
        cutoff = self._clock.now() - retention
        return await delete_in_batches(
            self._db,
            lambda session, limit: q.prune_records(session, cutoff, limit),
            batch_size=PRUNE_BATCH,
            max_batches=PRUNE_MAX_BATCHES,
        )


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _exists(repo: RepositoryRef, name: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"trigger {name} of {repo.full_name} already exists")


def _audit_detail(repo: RepositoryRef, row: Trigger) -> dict[str, object]:
    """Names and settings only: the URL masked (it may hold a token), never the secret."""
    return {
        "repository": repo.full_name,
        "trigger": row.name,
        "url": mask_url(row.url),
        "mode": row.mode,
    }


def _view(row: Trigger, *, reveal: bool, secret: str | None = None) -> TriggerView:
    return TriggerView(
        name=row.name,
        url=row.url if reveal else mask_url(row.url),
        mode=row.mode,
        expression=row.expression,
        tags=list(row.tags or ()),
        cloudevents=row.cloudevents,
        has_secret=row.secret_encrypted is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        secret=secret,
    )


def record_view(row: TriggerDelivery) -> TriggerRecordView:
    return TriggerRecordView(
        id=row.id,
        trigger=row.trigger_name,
        tag=row.tag,
        digest=row.digest,
        status=row.status,
        reason=row.reason,
        response_status=row.response_status,
        attempts=row.attempts,
        latency_ms=row.latency_ms,
        ping=row.ping,
        redelivery_of=row.redelivery_of,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
