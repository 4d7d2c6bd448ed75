"""The audit log's rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import AuditEvent


def add_event(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    actor: str,
    actor_id: uuid.UUID | None,
    source_ip: str,
    action: str,
    resource: str,
    outcome: str,
    detail: dict[str, Any] | None,
    at: Any,
) -> None:
    session.add(
        AuditEvent(
            account_id=account_id,
            actor=actor,
            actor_id=actor_id,
            source_ip=source_ip,
            action=action,
            resource=resource,
            outcome=outcome,
            detail=detail or {},
            at=at,
        )
    )
