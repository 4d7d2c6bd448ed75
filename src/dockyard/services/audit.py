"""The audit log: who did what, from where, when, and how it ended.

``record`` writes in its own transaction (sign-ins, denials: there is no other write);
``add`` joins the caller's transaction, so a change and its audit row commit together.
Callers never pass secrets: ``detail`` holds names and ids only.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.metadata.queries import audit as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database

Outcome = Literal["success", "failure", "denied"]


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
        q.add_event(
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
