"""The audit log: who did what, from where, when, and how it ended.

``record`` writes in its own transaction (sign-ins, denials: there is no other write);
``add`` joins the caller's transaction, so a change and its audit row commit together
(``change`` is ``add`` for a successful change by an ``Actor``; ``denied`` is ``record`` for a
permission denial and never raises). Callers never pass secrets: ``detail`` holds names and
ids only. Reads (pulls, GET/HEAD) are not audited. ``prune`` enforces the retention in
bounded batches; every worker runs it periodically (``server.py``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import DockyardError, InvalidInputError
from dockyard.metadata.queries import audit as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.tenancy import Page, PageRequest

log = structlog.get_logger(__name__)

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
#: How many rows one retention transaction deletes at most.
PRUNE_BATCH = 500
#: How many batches one retention pass runs at most (the next pass continues).
PRUNE_MAX_BATCHES = 20
_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change and from where, for its audit row (never a credential)."""

    name: str
    user_id: str | uuid.UUID | None = None
    source_ip: str = ""


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit log listing, as the caller wrote them (validated here)."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEventView:
    id: uuid.UUID
    at: datetime
    actor: str
    actor_id: uuid.UUID | None
    source_ip: str
    action: str
    resource: str
    outcome: str
    detail: dict[str, Any]


def _moment(field: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInputError(
            f"{field} must be an ISO-8601 date or time (e.g. 2026-11-27T10:00:00Z), not {value!r}"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _name(field: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > _NAME_MAX:
        raise InvalidInputError(f"{field} is at most {_NAME_MAX} characters")
    return value


def parse_query(query: AuditQuery) -> q.EventFilter:
    """Validate the listing filters; a bad one is ``InvalidInputError`` naming it."""
    outcome = _name("outcome", query.outcome)
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInputError(
            f"outcome must be one of {', '.join(sorted(OUTCOMES))}, not {outcome!r}"
        )
    since, until = _moment("since", query.since), _moment("until", query.until)
    if since is not None and until is not None and since > until:
        raise InvalidInputError("since must not be later than until")
    return q.EventFilter(
        actor=_name("actor", query.actor),
        action=_name("action", query.action),
        outcome=outcome,
        since=since,
        until=until,
    )


class AuditLog:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._clock = clock
        self._account_id: uuid.UUID | None = None

    async def _account(self, session: AsyncSession) -> uuid.UUID:
        if self._account_id is None:
            account = await tq.find_account(session)
            if account is None:
                raise RuntimeError("no account: the first-start setup has not run")
            self._account_id = account.id
        return self._account_id

    async def add(
        self,
        session: AsyncSession,
        *,
        actor: str,
        action: str,
        outcome: Outcome,
        actor_id: str | uuid.UUID | None = None,
        source_ip: str = "",
        resource: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        await q.add_audit_event(
            session,
            account_id=await self._account(session),
            actor=actor or "anonymous",
            actor_id=uuid.UUID(str(actor_id)) if actor_id else None,
            source_ip=source_ip,
            action=action,
            resource=resource,
            outcome=outcome,
            detail=detail,
            at=self._clock.now(),
        )

    async def change(
        self,
        session: AsyncSession,
        actor: Actor | None,
        action: str,
        resource: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """A successful change, in the caller's transaction (commits with the change)."""
        who = actor or Actor("system")
        await self.add(
            session,
            actor=who.name,
            actor_id=who.user_id,
            source_ip=who.source_ip,
            action=action,
            resource=resource,
            outcome="success",
            detail=detail,
        )

    async def denied(
        self, actor: Actor, action: str, resource: str, detail: dict[str, Any] | None = None
    ) -> None:
        """A permission denial (its own transaction: the refused request changes nothing).

        Failing to write it is logged, never raised: the caller still gets its 403."""
        try:
            await self.record(
                actor=actor.name,
                actor_id=actor.user_id,
                source_ip=actor.source_ip,
                action=action,
                resource=resource,
                outcome="denied",
                detail=detail,
            )
        except DockyardError as exc:
            log.warning("could not audit a denial", action=action, error=exc.message)

    async def list_events(self, query: AuditQuery, page: PageRequest) -> Page[AuditEventView]:
        """Events matching ``query``, newest first."""
        where = parse_query(query)
        async with self._db.read() as session:
            rows, total = await q.list_events(
                session, await self._account(session), where, page.offset, page.page_size
            )
            items = [
                AuditEventView(
                    r.id,
                    r.at,
                    r.actor,
                    r.actor_id,
                    r.source_ip,
                    r.action,
                    r.resource,
                    r.outcome,
                    dict(r.detail or {}),
                )
                for r in rows
            ]
        return Page(items, page.page, page.page_size, total)

    async def prune(
        self,
        retention: timedelta,
        *,
        batch_size: int = PRUNE_BATCH,
        max_batches: int = PRUNE_MAX_BATCHES,
    ) -> int:
        """Delete events older than ``retention`` in bounded batches; how many went.

        Every worker runs this; two workers pruning at once only split the work.
        """
        cutoff = self._clock.now() - retention
        removed = 0
        for _ in range(max_batches):
            async with self._db.write() as session:
                count = await q.delete_older_than(session, cutoff, batch_size)
            removed += count
            if count < batch_size:
                break
        return removed

    async def record(
        self,
        *,
        actor: str,
        action: str,
        outcome: Outcome,
        actor_id: str | uuid.UUID | None = None,
        source_ip: str = "",
        resource: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        async with self._db.write() as session:
            await self.add(
                session,
                actor=actor,
                action=action,
                outcome=outcome,
                actor_id=actor_id,
                source_ip=source_ip,
                resource=resource,
                detail=detail,
            )
