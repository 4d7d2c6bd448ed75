"""Resource sets (administrators): list; create; a set's page to link and unlink groups and
to add and take out namespaces and repositories of an instance. Over
``IdentityServices.resource_sets``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import Form, PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from dockyard.services.access import actions
from dockyard.services.identity import Caller, ResourceSetService
from dockyard.services.paging import PageRequest

PATH = "/console/resource-sets"
CHOICES = PageRequest(1, 100)
_REFUSED = (InvalidInputError, AlreadyExistsError, NotFoundError, ConflictError)


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
            context.user.caller, sent["name"], sent["description"]
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
        may_unlink=user.may(actions.UNLINK_RESOURCE_SET_FROM_GROUP, arn),
        may_remove=user.may(actions.REMOVE_RESOURCE_FROM_RESOURCE_SET, arn),
        may_delete=user.may(actions.DELETE_RESOURCE_SET, arn),
        may_edit=user.may(actions.UPDATE_RESOURCE_SET, arn),
        **values,
    )


Change = Callable[[ResourceSetService, Caller, str, Form], Awaitable[object]]


async def _change(context: PageContext, action: str, field: str, change: Change) -> Response:
    """Authorize ``action`` on the set, make the ``change``, show the set again (a refusal
    at the form's ``field``)."""
    svc, name = context.svc, context.param("name")
    sets = svc.identity.resource_sets
    await context.user.require(svc.audit, action, await sets.ram_arn(f"resourceset/{name}"))
    try:
        await change(sets, context.user.caller, name, context.form)
    except _REFUSED as exc:
        return await resource_set_page(context, 400, errors={field: exc.message})
    return redirect(f"{PATH}/{name}")


async def _member(
    sets: ResourceSetService, caller: Caller, name: str, form: Form, *, add: bool
) -> object:
    """A namespace (``team``) or a repository (``team/app``) of an instance joins or leaves
    the set."""
    namespace, _, repository = form.text("resource").partition("/")
    instance_id = form.text("instance_id")
    return await sets.set_member(caller, name, instance_id, namespace, repository or None, add=add)


async def _group(
    sets: ResourceSetService, caller: Caller, name: str, form: Form, *, link: bool
) -> object:
    return await sets.link_group(caller, name, form.text("group"), link=link)


async def link_group(context: PageContext) -> Response:
    return await _change(
        context, actions.LINK_RESOURCE_SET_TO_GROUP, "group", partial(_group, link=True)
    )


async def unlink_group(context: PageContext) -> Response:
    return await _change(
        context, actions.UNLINK_RESOURCE_SET_FROM_GROUP, "group", partial(_group, link=False)
    )


async def add_resource(context: PageContext) -> Response:
    return await _change(
        context, actions.ADD_RESOURCE_TO_RESOURCE_SET, "resource", partial(_member, add=True)
    )


async def remove_resource(context: PageContext) -> Response:
    return await _change(
        context, actions.REMOVE_RESOURCE_FROM_RESOURCE_SET, "resource", partial(_member, add=False)
    )


def routes(svc: ConsoleServices) -> list[Route]:
    one = PATH + "/{name}"
    return [
        Route(PATH, page(svc, resource_sets_page), methods=["GET"]),
        Route(PATH, page(svc, create_resource_set), methods=["POST"]),
        Route(one, page(svc, resource_set_page), methods=["GET"]),
        Route(one + "/groups", page(svc, link_group), methods=["POST"]),
        Route(one + "/groups/remove", page(svc, unlink_group), methods=["POST"]),
        Route(one + "/resources", page(svc, add_resource), methods=["POST"]),
        Route(one + "/resources/remove", page(svc, remove_resource), methods=["POST"]),
    ]
