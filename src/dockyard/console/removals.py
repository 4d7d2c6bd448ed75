"""Deleting identity objects (users, groups, roles, policies, resource sets, logon
policies, organizations), each authorized and audited as the API's route for it is. The
buttons ask first (``data-confirm``); what the services refuse (the last administrator, a
built-in policy, an organization that still holds users) comes back in words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.pages import PageContext, error_page, page, redirect
from dockyard.errors import ConflictError, InvalidInputError
from dockyard.services.access import actions
from dockyard.services.identity import Caller, IdentityServices

Delete = Callable[[Caller, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Deletable:
    #: The ARN kind (``acs:ram::$account:<kind>/<name>``) the action is authorized on.
    kind: str
    action: str
    delete: Callable[[IdentityServices], Delete]


#: By the console's path segment of the object's pages.
DELETABLE = {
    "users": Deletable("user", actions.DELETE_USER, lambda ids: ids.users.delete_user),
    "groups": Deletable("group", actions.DELETE_GROUP, lambda ids: ids.groups.delete_group),
    "roles": Deletable("role", actions.DELETE_ROLE, lambda ids: ids.roles.delete_role),
    "policies": Deletable("policy", actions.DELETE_POLICY, lambda ids: ids.policies.delete_policy),
    "resource-sets": Deletable(
        "resourceset",
        actions.DELETE_RESOURCE_SET,
        lambda ids: ids.resource_sets.delete_resource_set,
    ),
    "logon-policies": Deletable(
        "logonpolicy",
        actions.DELETE_LOGON_POLICY,
        lambda ids: ids.logon_policies.delete_logon_policy,
    ),
    "organizations": Deletable(
        "organization",
        actions.DELETE_ORGANIZATION,
        lambda ids: ids.organizations.delete_organization,
    ),
}


async def deletable(context: PageContext, collection: str, names: Iterable[str]) -> set[str]:
    """Which of ``names`` (of ``collection``, a key of ``DELETABLE``) the visitor may delete:
    the rows and pages that get a Delete button."""
    kind = DELETABLE[collection]
    return await permitted(context, kind.kind, kind.action, names)


async def permitted(context: PageContext, kind: str, action: str, names: Iterable[str]) -> set[str]:
    """Which of ``names`` (identity objects of the ARN ``kind``) the visitor may ``action``."""
    ram_arn = context.svc.identity.users.ram_arn
    return {n for n in names if context.user.may(action, await ram_arn(f"{kind}/{n}"))}


def _deleter(collection: str) -> Callable[[PageContext], Awaitable[Response]]:
    deletable = DELETABLE[collection]

    async def delete(context: PageContext) -> Response:
        svc, name = context.svc, context.param("name")
        arn = await svc.identity.users.ram_arn(f"{deletable.kind}/{name}")
        await context.user.require(svc.audit, deletable.action, arn)
        try:
            await deletable.delete(svc.identity)(context.user.caller, name)
        except (ConflictError, InvalidInputError) as exc:
            return error_page(context, 409, "Not deleted", exc.message)
        return redirect(f"/console/{collection}")

    return delete


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(f"/console/{kind}/{{name}}/delete", page(svc, _deleter(kind)), methods=["POST"])
        for kind in DELETABLE
    ]
