"""What the audit log listing is asked (validated filters) and what it answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from dockyard.errors import InvalidInputError
from dockyard.metadata.queries import audit as q

_NAME_MAX = 64

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))


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
