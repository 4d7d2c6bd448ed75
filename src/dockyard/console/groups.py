"""Groups (administrators): list; create in an organization; a group's page to add and
remove members and grant roles. Over ``IdentityServices.groups``, as the API's routes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from dockyard.services.access import actions
from dockyard.services.paging import PageRequest

PATH = "/console/groups"
CHOICES = PageRequest(1, 100)
_REFUSED = (InvalidInputError, AlreadyExistsError, NotFoundError, ConflictError)


async def groups_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_GROUPS, "*")
    listing = await svc.identity.groups.list_groups(PageRequest(context.page_number(), PAGE_SIZE))
    may_create = user.may(actions.CREATE_GROUP, "*")
    organizations = (
        (await svc.identity.organizations.list_organizations(CHOICES)).items if may_create else []
    )
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "description": "", "organization_id": ""})
    return context.render(
        "groups.html",
        status=status,
        listing=listing,
        organizations=organizations,
        may_create=may_create,
        **values,
    )


async def create_group(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_GROUP, "*")
    sent = {name: form.text(name) for name in ("name", "description", "organization_id")}
    try:
        made = await svc.identity.groups.create_group(
            context.user.caller, sent["name"], sent["organization_id"], sent["description"]
        )
    except _REFUSED as exc:
        return await groups_page(context, 400, errors={"name": exc.message}, form=sent)
    return redirect(f"{PATH}/{made.name}")


async def group_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    groups = svc.identity.groups
    name = context.param("name")
    arn = await groups.ram_arn(f"group/{name}")
    await user.require(svc.audit, actions.GET_GROUP, arn)
    group = await groups.get_group(name)
    may_grant = user.may(actions.ATTACH_ROLE_TO_GROUP, arn)
    roles = (await svc.identity.roles.list_roles(CHOICES)).items if may_grant else []
    values.setdefault("errors", {})
    return context.render(
        "group.html",
        status=status,
        group=group,
        roles=[r for r in roles if r.name not in group.roles],
        may_add=user.may(actions.ADD_USER_TO_GROUP, arn),
        may_remove=user.may(actions.REMOVE_USER_FROM_GROUP, arn),
        may_grant=may_grant,
        may_revoke=user.may(actions.DETACH_ROLE_FROM_GROUP, arn),
        may_delete=user.may(actions.DELETE_GROUP, arn),
        may_edit=user.may(actions.UPDATE_GROUP, arn),
        **values,
    )


async def change_group(context: PageContext, action: str) -> Response:
    """Add or remove a member, or grant or revoke a role (``action``), then show the group
    again."""
    svc, form = context.svc, context.form
    groups = svc.identity.groups
    name = context.param("name")
    await context.user.require(svc.audit, action, await groups.ram_arn(f"group/{name}"))
    caller = context.user.caller
    try:
        if action == actions.ADD_USER_TO_GROUP:
            await groups.add_group_member(caller, name, form.text("username"))
        elif action == actions.REMOVE_USER_FROM_GROUP:
            await groups.remove_group_member(caller, name, form.text("username"))
        elif action == actions.DETACH_ROLE_FROM_GROUP:
            await groups.detach_role_from_group(caller, name, form.text("role"))
        else:
            await groups.attach_role_to_group(caller, name, form.text("role"))
    except _REFUSED as exc:
        roles = (actions.ATTACH_ROLE_TO_GROUP, actions.DETACH_ROLE_FROM_GROUP)
        field = "role" if action in roles else "username"
        return await group_page(context, 400, errors={field: exc.message})
    return redirect(f"{PATH}/{name}")


async def add_member(context: PageContext) -> Response:
    return await change_group(context, actions.ADD_USER_TO_GROUP)


async def remove_member(context: PageContext) -> Response:
    return await change_group(context, actions.REMOVE_USER_FROM_GROUP)


async def grant_role(context: PageContext) -> Response:
    return await change_group(context, actions.ATTACH_ROLE_TO_GROUP)


async def revoke_role(context: PageContext) -> Response:
    return await change_group(context, actions.DETACH_ROLE_FROM_GROUP)


def routes(svc: ConsoleServices) -> list[Route]:
    one = PATH + "/{name}"
    return [
        Route(PATH, page(svc, groups_page), methods=["GET"]),
        Route(PATH, page(svc, create_group), methods=["POST"]),
        Route(one, page(svc, group_page), methods=["GET"]),
        Route(one + "/members", page(svc, add_member), methods=["POST"]),
        Route(one + "/members/remove", page(svc, remove_member), methods=["POST"]),
        Route(one + "/roles", page(svc, grant_role), methods=["POST"]),
        Route(one + "/roles/remove", page(svc, revoke_role), methods=["POST"]),
    ]
