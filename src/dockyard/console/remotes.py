"""An instance's replication remotes (Advanced): list, register (the secret is sealed and
never shown again), remove; authorized on the instance's ARN as the API's
``/replication-remotes`` routes are. Tasks and rules are in ``replication``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE, instance_path
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, EditionRequiredError, InvalidInputError
from dockyard.services.access import InstanceRef, actions
from dockyard.services.paging import PageRequest
from dockyard.services.replication import RemoteSpec

_BLANK = {"name": "", "url": "", "username": "", "remote_instance": "", "ca_bundle": ""}


def remotes_path(instance_id: str) -> str:
    return f"{instance_path(instance_id)}/replication-remotes"


async def _instance(context: PageContext, action: str) -> tuple[InstanceRef, str]:
    ref = await context.svc.tenancy.instance_ref(context.param("instance_id"))
    arn = actions.instance_arn(ref)
    await context.user.require(context.svc.audit, action, arn)
    return ref, arn


async def remotes_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    ref, arn = await _instance(context, actions.LIST_REPLICATION_REMOTE)
    user, svc = context.user, context.svc
    listing = await svc.replication.list_remotes(
        ref.id, PageRequest(context.page_number(), PAGE_SIZE)
    )
    values.setdefault("errors", {})
    values.setdefault("form", _BLANK)
    return context.render(
        "remotes.html",
        status=status,
        instance=ref,
        here=remotes_path(ref.id),
        listing=listing,
        advanced=ref.edition == "Advanced",
        may_create=user.may(actions.CREATE_REPLICATION_REMOTE, arn),
        may_delete=user.may(actions.DELETE_REPLICATION_REMOTE, arn),
        **values,
    )


async def create_remote(context: PageContext) -> Response:
    ref, arn = await _instance(context, actions.CREATE_REPLICATION_REMOTE)
    form = context.form
    spec = RemoteSpec(
        form.text("name"),
        form.text("url"),
        form.text("username"),
        form.secret("secret"),
        form.text("remote_instance") or None,
        form.secret("ca_bundle").strip() or None,
    )
    try:
        await context.svc.replication.add_remote(
            ref.id, spec, actor=context.user.actor, resource=arn
        )
    except (InvalidInputError, AlreadyExistsError, EditionRequiredError) as exc:
        sent = {name: form.text(name) for name in _BLANK}
        return await remotes_page(context, 400, errors={"form": exc.message}, form=sent)
    return redirect(remotes_path(ref.id))


async def delete_remote(context: PageContext) -> Response:
    ref, arn = await _instance(context, actions.DELETE_REPLICATION_REMOTE)
    await context.svc.replication.remove_remote(
        ref.id, context.param("name"), actor=context.user.actor, resource=arn
    )
    return redirect(remotes_path(ref.id))


def routes(svc: ConsoleServices) -> list[Route]:
    path = "/console/instances/{instance_id}/replication-remotes"
    return [
        Route(path, page(svc, remotes_page), methods=["GET"]),
        Route(path, page(svc, create_remote), methods=["POST"]),
        Route(path + "/{name}/delete", page(svc, delete_remote), methods=["POST"]),
    ]
