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
from datetime import timedelta
from typing import Any, NotRequired, TypedDict, Unpack

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import DockyardError
from dockyard.metadata.queries import audit as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.audit.views import AuditEventView, AuditQuery, Outcome, parse_query
from dockyard.services.batches import delete_in_batches
from dockyard.services.paging import Page, PageRequest

log = structlog.get_logger(__name__)

#: How many rows one retention transaction deletes at most.
PRUNE_BATCH = 500
#: How many batches one retention pass runs at most (the next pass continues).
PRUNE_MAX_BATCHES = 20


class AuditRow(TypedDict):
    """What a caller says about one event (the log adds the account and the time)."""

    actor: str
    action: str
    outcome: Outcome
    actor_id: NotRequired[str | uuid.UUID | None]
    source_ip: NotRequired[str]
    resource: NotRequired[str]
    detail: NotRequired[dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change and from where, for its audit row (never a credential)."""

    name: str
    user_id: str | uuid.UUID | None = None
    source_ip: str = ""

    def row(
        self,
        action: str,
        outcome: Outcome,
        resource: str = "",
        detail: dict[str, Any] | None = None,
    ) -> AuditRow:
        """The audit row of this actor's ``action`` on ``resource``."""
        return {
            "actor": self.name,
            "actor_id": self.user_id,
            "source_ip": self.source_ip,
            "action": action,
            "outcome": outcome,
            "resource": resource,
            "detail": detail,
        }


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

    async def add(self, session: AsyncSession, **row: Unpack[AuditRow]) -> None:
        actor_id = row.get("actor_id")
        await q.add_audit_event(
            session,
            account_id=await self._account(session),
            actor=row["actor"] or "anonymous",
            actor_id=uuid.UUID(str(actor_id)) if actor_id else None,
            source_ip=row.get("source_ip", ""),
            action=row["action"],
            resource=row.get("resource", ""),
            outcome=row["outcome"],
            detail=row.get("detail"),
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
        await self.add(session, **who.row(action, "success", resource, detail))

    async def denied(
        self, actor: Actor, action: str, resource: str, detail: dict[str, Any] | None = None
    ) -> None:
        """A permission denial (its own transaction: the refused request changes nothing).

        Failing to write it is logged, never raised: the caller still gets its 403."""
        try:
            await self.record(**actor.row(action, "denied", resource, detail))
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

        The ``prune-audit`` periodic job runs this once per deployment; two passes at
        once would only split the work.
        """
        cutoff = self._clock.now() - retention
        return await delete_in_batches(
            self._db,
            lambda session, limit: q.delete_older_than(session, cutoff, limit),
            batch_size=batch_size,
            max_batches=max_batches,
        )

    async def record(self, **row: Unpack[AuditRow]) -> None:
        async with self._db.write() as session:
            await self.add(session, **row)
