"""Organizations (administrators): the tree under the root, and a new organization under
any of them. Over ``IdentityServices.organizations``, as the API's routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.removals import deletable, permitted
from dockyard.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from dockyard.services.access import actions
from dockyard.services.identity import OrganizationView
from dockyard.services.paging import PageRequest

PATH = "/console/organizations"
#: How many organizations the tree shows (the account's whole tree, in practice).
TREE_SIZE = 500


@dataclass
class Node:
    organization: OrganizationView
    children: list[Node] = field(default_factory=list)


def tree(organizations: list[OrganizationView]) -> list[Node]:
    """The organizations as a forest by parent (roots: no parent, or a parent not shown),
    each level in name order."""
    nodes = {o.id: Node(o) for o in sorted(organizations, key=lambda o: o.name)}
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(node.organization.parent_id or "")
        (parent.children if parent else roots).append(node)
    return roots


async def organizations_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_ORGANIZATIONS, "*")
    found = await svc.identity.organizations.list_organizations(PageRequest(1, TREE_SIZE))
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "description": "", "parent_id": ""})
    return context.render(
        "organizations.html",
        status=status,
        roots=tree(found.items),
        organizations=sorted(found.items, key=lambda o: o.name),
        total=found.total,
        may_create=user.may(actions.CREATE_ORGANIZATION, "*"),
        deletable=await deletable(
            context, "organizations", [o.id for o in found.items if o.parent_id]
        ),
        editable=await permitted(
            context, "organization", actions.UPDATE_ORGANIZATION, [o.id for o in found.items]
        ),
        **values,
    )


async def create_organization(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_ORGANIZATION, "*")
    sent = {name: form.text(name) for name in ("name", "description", "parent_id")}
    try:
        await svc.identity.organizations.create_organization(
            user.caller,
            sent["name"],
            sent["parent_id"],
            sent["description"],
        )
    except (InvalidInputError, AlreadyExistsError, NotFoundError) as exc:
        return await organizations_page(context, 400, errors={"name": exc.message}, form=sent)
    return redirect(PATH)


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route(PATH, page(svc, organizations_page), methods=["GET"]),
        Route(PATH, page(svc, create_organization), methods=["POST"]),
    ]
