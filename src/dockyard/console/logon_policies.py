"""Logon policies (administrators): list; create with UTC time windows and source networks,
the service's validation message shown at its field."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.removals import deletable, permitted
from dockyard.errors import AlreadyExistsError, InvalidInputError
from dockyard.services.access import actions
from dockyard.services.paging import PageRequest

PATH = "/console/logon-policies"


def parse_windows(text: str) -> list[dict[str, str]]:
    """One window a line, ``HH:MM-HH:MM`` (UTC)."""
    windows = []
    for line in text.splitlines():
        start, _, end = line.strip().partition("-")
        if line.strip():
            windows.append({"start": start.strip(), "end": end.strip()})
    return windows


def parse_networks(text: str) -> list[str]:
    """One CIDR a line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _field(message: str) -> str:
    if message.startswith("timeWindows"):
        return "time_windows"
    if message.startswith("cidrs"):
        return "cidrs"
    return "name"


async def logon_policies_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_LOGON_POLICIES, "*")
    listing = await svc.identity.logon_policies.list_logon_policies(
        PageRequest(context.page_number(), PAGE_SIZE)
    )
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "description": "", "time_windows": "", "cidrs": ""})
    return context.render(
        "logon_policies.html",
        status=status,
        listing=listing,
        may_create=user.may(actions.CREATE_LOGON_POLICY, "*"),
        deletable=await deletable(context, "logon-policies", [p.name for p in listing.items]),
        editable=await permitted(
            context, "logonpolicy", actions.UPDATE_LOGON_POLICY, [p.name for p in listing.items]
        ),
        **values,
    )


async def create_logon_policy(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_LOGON_POLICY, "*")
    sent = {name: form.secret(name) for name in ("name", "description", "time_windows", "cidrs")}
    try:
        await svc.identity.logon_policies.create_logon_policy(
            user.caller,
            form.text("name"),
            description=form.text("description"),
            time_windows=parse_windows(sent["time_windows"]),
            cidrs=parse_networks(sent["cidrs"]),
        )
    except (InvalidInputError, AlreadyExistsError) as exc:
        errors = {_field(exc.message): exc.message}
        return await logon_policies_page(context, 400, errors=errors, form=sent)
    return redirect(PATH)


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(PATH, page(svc, logon_policies_page), methods=["GET"]),
        Route(PATH, page(svc, create_logon_policy), methods=["POST"]),
    ]
