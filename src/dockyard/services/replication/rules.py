"""Replication rules (Advanced edition): every push matching a rule becomes a task, with
namespace, repository and tag names unchanged at the destination (created there when
the destination allows it), overwriting the destination tag as the push did the source's.

Pushes arrive as ``TagUpdated`` events through the outbox dispatcher
(:class:`ReplicationSubscriber`); a rule's task names the event it came from, so an event
handed over twice (at-least-once) makes one task per rule.

No loop between rules in both directions (A→B and B→A): a push that arrived at B by
replication from A is not replicated back to A (its pusher names A); and a task whose
destination tag already holds the digest changes nothing, and an unchanged tag emits no
event, so even rules through a third registry end after one round.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK
from dockyard.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from dockyard.events import EventType
from dockyard.metadata.models import ReplicationRule
from dockyard.metadata.queries import replication as q
from dockyard.metadata.session import Database
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.outbox import Event
from dockyard.services.paging import Page, PageRequest
from dockyard.services.replication.destinations import REPLICATION_PUSHER
from dockyard.services.replication.service import (
    ReplicationService,
    TaskSource,
    TaskTarget,
    queue_task,
)
from dockyard.services.replication.views import (
    NAMESPACE_LEVEL,
    REPOSITORY_LEVEL,
    RuleSpec,
    RuleView,
    check_tag_regex,
    tag_matches,
)
from dockyard.services.tenancy import TenancyService
from dockyard.services.tenancy.editions import Feature, require_feature

SUBSCRIBER_NAME = "replication"
CREATE_RULE_ACTION = "cr:CreateRepoSyncRule"
UPDATE_RULE_ACTION = "cr:UpdateRepoSyncRule"
DELETE_RULE_ACTION = "cr:DeleteRepoSyncRule"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ReplicationRules:
    def __init__(
        self,
        db: Database,
        tenancy: TenancyService,
        replication: ReplicationService,
        audit: AuditLog,
    ) -> None:
        self._db = db
        self._tenancy = tenancy
        self._replication = replication
        self._audit = audit

    async def create(
        self, instance_id: str, spec: RuleSpec, *, actor: Actor | None, resource: str
    ) -> RuleView:
        require_feature(
            await self._tenancy.instance_ref(instance_id), Feature.AUTOMATIC_REPLICATION
        )
        if not _NAME.fullmatch(spec.name):
            raise InvalidInputError("a rule's name is 1-64 of letters, digits, '-', '_'")
        check_source(spec.level, spec.source)
        check_tag_regex(spec.tags)
        kind = await self._replication.destination_kind(instance_id, spec.to)
        if spec.to == instance_id:
            raise InvalidInputError("a rule replicates to another instance or a remote")
        row = ReplicationRule(
            id=uuid.uuid4(),
            instance_id=instance_id,
            name=spec.name,
            destination=spec.to,
            destination_kind=kind,
            level=spec.level,
            source=spec.source,
            tags=spec.tags,
            enabled=True,
            created_at=SYSTEM_CLOCK.now(),
        )
        try:
            async with self._db.write() as session:
                session.add(row)
                await session.flush()
                detail = {"rule": spec.name, "to": spec.to, "source": spec.source}
                await self._audit.change(session, actor, CREATE_RULE_ACTION, resource, detail)
        except IntegrityError as exc:
            raise AlreadyExistsError(f"rule {spec.name} already exists") from exc
        return _view(row)

    async def list_rules(self, instance_id: str, page: PageRequest) -> Page[RuleView]:
        await self._tenancy.instance_ref(instance_id)
        async with self._db.read() as session:
            rows, total = await q.list_rules(session, instance_id, page.offset, page.page_size)
            items = [_view(row) for row in rows]
        return Page(items, page.page, page.page_size, total)

    async def find(self, instance_id: str, name: str) -> RuleView | None:
        async with self._db.read() as session:
            row = await q.find_rule(session, instance_id, name)
            return _view(row) if row else None

    async def set_enabled(
        self, instance_id: str, name: str, enabled: bool, *, actor: Actor | None, resource: str
    ) -> RuleView:
        async with self._db.write() as session:
            row = await _rule(session, instance_id, name)
            row.enabled = enabled
            detail = {"rule": name, "enabled": enabled}
            await self._audit.change(session, actor, UPDATE_RULE_ACTION, resource, detail)
            return _view(row)

    async def delete(
        self, instance_id: str, name: str, *, actor: Actor | None, resource: str
    ) -> None:
        async with self._db.write() as session:
            row = await _rule(session, instance_id, name)
            await q.delete_rule(session, row.id)
            await self._audit.change(session, actor, DELETE_RULE_ACTION, resource, {"rule": name})


def check_source(level: str, source: str) -> None:
    if level == NAMESPACE_LEVEL:
        RepositoryName.parse(f"{source}/x")  # the namespace's grammar
    elif level == REPOSITORY_LEVEL:
        RepositoryName.parse(source)
    else:
        raise InvalidInputError(f"level is {NAMESPACE_LEVEL} or {REPOSITORY_LEVEL}")


def in_scope(rule: ReplicationRule, event: Event) -> bool:
    """Whether the push ``event`` tells of went to the rule's source (and did not arrive
    from the rule's destination: that is not sent back)."""
    full_name = event.repository
    if full_name is None or rule.instance_id != event.instance_id:
        return False
    if event.payload.get("pushedBy") == REPLICATION_PUSHER + rule.destination:
        return False
    scope = full_name.split("/", 1)[0] if rule.level == NAMESPACE_LEVEL else full_name
    return scope == rule.source


def matches(rule: ReplicationRule, event: Event) -> bool:
    """Whether the tag push ``event`` tells of is the rule's to replicate."""
    tag = event.payload.get("tag")
    return isinstance(tag, str) and in_scope(rule, event) and tag_matches(rule.tags, tag)


class ReplicationSubscriber:
    """Turns the pushes matching an enabled rule into tasks: a tag push, or a referrer
    (a signature, an SBOM) pushed later for a manifest a matching tag carries (pointing
    to it, or to an index naming it), which replicates that tag again (its blobs are
    there already; the referrer is new)."""

    name = SUBSCRIBER_NAME
    wants = frozenset({EventType.TAG_UPDATED, EventType.MANIFEST_PUSHED})

    def __init__(self, db: Database) -> None:
        self._db = db

    async def concerned(self, session: AsyncSession, events: Sequence[Event]) -> Sequence[Event]:
        rules = await q.enabled_rules(session, sorted({e.instance_id for e in events}))
        return [e for e in events if any(_wanted(rule, e) for rule in rules)]

    async def handle(self, events: Sequence[Event]) -> None:
        async with self._db.write() as session:
            rules = await q.enabled_rules(session, sorted({e.instance_id for e in events}))
            now = SYSTEM_CLOCK.now()
            for event in events:
                for rule in rules:
                    if rule.created_at > event.created_at or not _wanted(rule, event):
                        continue
                    if await q.has_rule_task(session, event.id, rule.name):
                        continue  # this event was handed over before
                    tag = await _tag_to_replicate(session, rule, event)
                    if tag is None:
                        continue
                    full_name = str(event.repository)
                    queue_task(
                        session,
                        TaskSource(event.instance_id, full_name, tag),
                        TaskTarget(rule.destination, rule.destination_kind, full_name, tag),
                        overwrite=True,
                        created_by=None,
                        now=now,
                        rule=rule.name,
                        event_id=event.id,
                    )


def _wanted(rule: ReplicationRule, event: Event) -> bool:
    if event.type is EventType.MANIFEST_PUSHED:
        return in_scope(rule, event)
    return matches(rule, event)


async def _tag_to_replicate(
    session: AsyncSession, rule: ReplicationRule, event: Event
) -> str | None:
    """The pushed tag; for a pushed manifest, the first tag carrying its subject (the
    subject's own, or an index's that names it) the rule takes (None: it is no referrer,
    or no such tag carries its subject)."""
    if event.type is not EventType.MANIFEST_PUSHED:
        return str(event.payload["tag"])
    digest = event.payload.get("digest")
    if not isinstance(digest, str):
        return None
    tags = await q.subject_tags(session, event.instance_id, str(event.repository), digest)
    return next((tag for tag in tags if tag_matches(rule.tags, tag)), None)


async def _rule(session: AsyncSession, instance_id: str, name: str) -> ReplicationRule:
    row = await q.find_rule(session, instance_id, name)
    if row is None:
        raise NotFoundError(f"replication rule {name} does not exist")
    return row


def _view(row: ReplicationRule) -> RuleView:
    return RuleView(
        row.name,
        row.destination,
        row.destination_kind,
        row.level,
        row.source,
        row.tags,
        row.enabled,
        row.created_at,
    )
