"""The audit log: who did what, from where, when, and how it ended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import route
from dockyard.api.routers.params import Paging
from dockyard.api.schemas.audit import AuditEventOut
from dockyard.api.schemas.common import Page
from dockyard.services.audit import AuditQuery

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])

_Text = Annotated[str | None, Query()]


@route(
    router,
    "GET",
    "",
    actions.LIST_AUDIT_EVENTS,
    "List audit events, newest first",
    response_model=Page[AuditEventOut],
    description=(
        "Filters: `actor`, `action` and `outcome` (success, failure, denied) match exactly; "
        "`since` (inclusive) and `until` (exclusive) are ISO-8601 times, UTC when no offset "
        "is given. An invalid filter is refused with 400 `INVALID_INPUT`."
    ),
)
async def list_audit_events(
    paging: Paging,
    svc: Services,
    guard: Authz,
    actor: _Text = None,
    action: _Text = None,
    outcome: _Text = None,
    since: _Text = None,
    until: _Text = None,
) -> Page[AuditEventOut]:
    guard.require(actions.everything())
    query = AuditQuery(actor=actor, action=action, outcome=outcome, since=since, until=until)
    return Page[AuditEventOut].model_validate(await svc.audit.list_events(query, paging))
