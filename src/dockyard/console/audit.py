"""The audit log (administrators): who did what, from where, when and how it ended, with
the API's filters (``AuditLog.list_events``)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page
from dockyard.errors import InvalidInputError
from dockyard.services.access import actions
from dockyard.services.audit import AuditQuery
from dockyard.services.paging import PageRequest

FILTERS = ("actor", "action", "outcome", "since", "until")
OUTCOMES = ("success", "failure", "denied")


async def audit_page(context: PageContext) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_AUDIT_EVENTS, "*")
    filters = {name: context.query(name)[:200] for name in FILTERS}
    query = AuditQuery(**{name: value or None for name, value in filters.items()})
    try:
        events = await svc.audit.list_events(query, PageRequest(context.page_number(), PAGE_SIZE))
    except InvalidInputError as exc:
        return context.render(
            "audit.html",
            status=400,
            events=None,
            filters=filters,
            outcomes=OUTCOMES,
            problem=exc.message,
            query_string="",
        )
    # The filters again, for the pager's links.
    kept = urlencode({name: value for name, value in filters.items() if value})
    return context.render(
        "audit.html",
        events=events,
        filters=filters,
        outcomes=OUTCOMES,
        problem="",
        query_string=kept,
        details={
            e.id: json.dumps(e.detail, sort_keys=True) if e.detail else "" for e in events.items
        },
    )


def routes(svc: ConsoleServices) -> list[Route]:
    return [Route("/console/audit", page(svc, audit_page), methods=["GET"])]
