"""Deleting identity objects (users, groups, roles, policies, resource sets, logon
policies, organizations) and taking links apart (a group's role, a resource set's group,
namespace or repository), each authorized and audited as the API's route for it is. The
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
    ram_arn = context.svc.identity.users.ram_arn
    return {n for n in names if context.user.may(kind.action, await ram_arn(f"{kind.kind}/{n}"))}


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


async def revoke_group_role(context: PageContext) -> Response:
    svc, name = context.svc, context.param("name")
    groups = svc.identity.groups
    arn = await groups.ram_arn(f"group/{name}")
    await context.user.require(svc.audit, actions.DETACH_ROLE_FROM_GROUP, arn)
    await groups.detach_role_from_group(context.user.caller, name, context.form.text("role"))
    return redirect(f"/console/groups/{name}")


async def unlink_set_group(context: PageContext) -> Response:
    svc, name = context.svc, context.param("name")
    sets = svc.identity.resource_sets
    arn = await sets.ram_arn(f"resourceset/{name}")
    await context.user.require(svc.audit, actions.UNLINK_RESOURCE_SET_FROM_GROUP, arn)
    await sets.link_group(context.user.caller, name, context.form.text("group"), link=False)
    return redirect(f"/console/resource-sets/{name}")


async def remove_set_resource(context: PageContext) -> Response:
    """A namespace (``team``) or a repository (``team/app``) of an instance leaves the set."""
    svc, form, name = context.svc, context.form, context.param("name")
    sets = svc.identity.resource_sets
    arn = await sets.ram_arn(f"resourceset/{name}")
    await context.user.require(svc.audit, actions.REMOVE_RESOURCE_FROM_RESOURCE_SET, arn)
    namespace, _, repository = form.text("resource").partition("/")
    await sets.set_member(
        context.user.caller,
        name,
        form.text("instance_id"),
        namespace,
        repository or None,
        add=False,
    )
    return redirect(f"/console/resource-sets/{name}")


def routes(svc: ConsoleServices) -> list[Route]:
    deletes = [
        Route(f"/console/{kind}/{{name}}/delete", page(svc, _deleter(kind)), methods=["POST"])
        for kind in DELETABLE
    ]
    return [
        *deletes,
        Route(
            "/console/groups/{name}/roles/remove", page(svc, revoke_group_role), methods=["POST"]
        ),
        Route(
            "/console/resource-sets/{name}/groups/remove",
            page(svc, unlink_set_group),
            methods=["POST"],
        ),
        Route(
            "/console/resource-sets/{name}/resources/remove",
            page(svc, remove_set_resource),
            methods=["POST"],
        ),
    ]
