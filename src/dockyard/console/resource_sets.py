"""Resource sets (administrators): list; create; a set's page to link groups and to add
namespaces and repositories of an instance. Over ``IdentityServices.resource_sets``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from dockyard.services.access import actions
from dockyard.services.identity import Caller
from dockyard.services.paging import PageRequest

PATH = "/console/resource-sets"
CHOICES = PageRequest(1, 100)
_REFUSED = (InvalidInputError, AlreadyExistsError, NotFoundError, ConflictError)


def _caller(context: PageContext) -> Caller:
    return Caller.of(context.user.principal, context.user.source_ip)


async def resource_sets_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    await user.require(svc.audit, actions.LIST_RESOURCE_SETS, "*")
    listing = await svc.identity.resource_sets.list_resource_sets(
        PageRequest(context.page_number(), PAGE_SIZE)
    )
    values.setdefault("errors", {})
    values.setdefault("form", {"name": "", "description": ""})
    return context.render(
        "resource_sets.html",
        status=status,
        listing=listing,
        may_create=user.may(actions.CREATE_RESOURCE_SET, "*"),
        **values,
    )


async def create_resource_set(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_RESOURCE_SET, "*")
    sent = {name: form.text(name) for name in ("name", "description")}
    try:
        made = await svc.identity.resource_sets.create_resource_set(
            _caller(context), sent["name"], sent["description"]
        )
    except _REFUSED as exc:
        return await resource_sets_page(context, 400, errors={"name": exc.message}, form=sent)
    return redirect(f"{PATH}/{made.name}")


async def resource_set_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    sets = svc.identity.resource_sets
    name = context.param("name")
    arn = await sets.ram_arn(f"resourceset/{name}")
    await user.require(svc.audit, actions.GET_RESOURCE_SET, arn)
    shown = await sets.get_resource_set(name)
    may_link = user.may(actions.LINK_RESOURCE_SET_TO_GROUP, arn)
    may_add = user.may(actions.ADD_RESOURCE_TO_RESOURCE_SET, arn)
    groups = (await svc.identity.groups.list_groups(CHOICES)).items if may_link else []
    instances = (await svc.tenancy.list_instances(CHOICES)).items if may_add else []
    values.setdefault("errors", {})
    return context.render(
        "resource_set.html",
        status=status,
        shown=shown,
        groups=[g for g in groups if g.name not in shown.groups],
        instances=instances,
        may_link=may_link,
        may_add=may_add,
        **values,
    )


async def link_group(context: PageContext) -> Response:
    svc, name = context.svc, context.param("name")
    sets = svc.identity.resource_sets
    await context.user.require(
        svc.audit, actions.LINK_RESOURCE_SET_TO_GROUP, await sets.ram_arn(f"resourceset/{name}")
    )
    try:
        await sets.link_group(_caller(context), name, context.form.text("group"), link=True)
    except _REFUSED as exc:
        return await resource_set_page(context, 400, errors={"group": exc.message})
    return redirect(f"{PATH}/{name}")


async def add_resource(context: PageContext) -> Response:
    """A namespace (``team``) or a repository (``team/app``) of an instance joins the set."""
    svc, form, name = context.svc, context.form, context.param("name")
    sets = svc.identity.resource_sets
    await context.user.require(
        svc.audit, actions.ADD_RESOURCE_TO_RESOURCE_SET, await sets.ram_arn(f"resourceset/{name}")
    )
    namespace, _, repository = form.text("resource").partition("/")
    try:
        await sets.set_member(
            _caller(context),
            name,
            form.text("instance_id"),
            namespace,
            repository or None,
            add=True,
        )
    except _REFUSED as exc:
        return await resource_set_page(context, 400, errors={"resource": exc.message})
    return redirect(f"{PATH}/{name}")


def routes(svc: ConsoleServices) -> list[Route]:
    one = PATH + "/{name}"
    return [
        Route(PATH, page(svc, resource_sets_page), methods=["GET"]),
        Route(PATH, page(svc, create_resource_set), methods=["POST"]),
        Route(one, page(svc, resource_set_page), methods=["GET"]),
        Route(one + "/groups", page(svc, link_group), methods=["POST"]),
        Route(one + "/resources", page(svc, add_resource), methods=["POST"]),
    ]
