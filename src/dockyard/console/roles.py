"""Roles (administrators): list with their policies; create one with a sharing scope and at
most five policies. Over ``IdentityServices.roles``, as the API's routes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, InvalidInputError, LimitExceededError, NotFoundError
from dockyard.services.access import actions
from dockyard.services.identity import Caller
from dockyard.services.identity.rules import MAX_ROLE_POLICIES, SHARING_SCOPES
from dockyard.services.paging import PageRequest

PATH = "/console/roles"


async def roles_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_ROLES, "*")
    listing = await svc.identity.roles.list_roles(PageRequest(context.page_number(), PAGE_SIZE))
    may_create = user.may(actions.CREATE_ROLE, "*")
    policies = (
        (await svc.identity.policies.list_policies(PageRequest(1, 100))).items if may_create else []
    )
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "description": "", "sharing_scope": "global"})
    values.setdefault("chosen", [])
    return context.render(
        "roles.html",
        status=status,
        listing=listing,
        may_create=may_create,
        policies=policies,
        scopes=SHARING_SCOPES,
        max_policies=MAX_ROLE_POLICIES,
        **values,
    )


async def create_role(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_ROLE, "*")
    sent = {name: form.text(name) for name in ("name", "description", "sharing_scope")}
    chosen = form.all("policies")
    try:
        await svc.identity.roles.create_role(
            Caller.of(user.principal, user.source_ip),
            sent["name"],
            description=sent["description"],
            sharing_scope=sent["sharing_scope"] or "global",
            policies=chosen,
        )
    except LimitExceededError as exc:
        field = (
            "policies" if "policies" in exc.message and "role carries" in exc.message else "form"
        )
        return await roles_page(context, 400, errors={field: exc.message}, form=sent, chosen=chosen)
    except (InvalidInputError, AlreadyExistsError, NotFoundError) as exc:
        return await roles_page(
            context, 400, errors={"name": exc.message}, form=sent, chosen=chosen
        )
    return redirect(PATH)


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(PATH, page(svc, roles_page), methods=["GET"]),
        Route(PATH, page(svc, create_role), methods=["POST"]),
    ]
