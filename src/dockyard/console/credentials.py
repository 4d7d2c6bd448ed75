"""The access-credential page (PRODUCT.md §4): the user name and the domains to log in to,
the ``docker login`` line, the visitor's registry password, temporary credentials and
access keys; over ``CredentialsService``, as the API's credential routes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.repositories import pull_address
from dockyard.errors import InvalidInputError, LimitExceededError
from dockyard.services.access import actions
from dockyard.services.credentials import Authenticated
from dockyard.services.paging import PageRequest

#: Notices a redirect may ask the page to show.
NOTICES = {
    "password": "Your registry password is set. Log in with it as shown above.",
    "disabled": "The access key is disabled.",
    "active": "The access key is enabled.",
    "deleted": "The access key is deleted.",
}

PATH = "/console/credentials"


async def credentials_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    me = await svc.credentials.user_arn(user.name)
    domains: list[tuple[str, str, str]] = []
    if user.may(actions.LIST_INSTANCE, "*"):
        for instance in (await svc.tenancy.list_instances(PageRequest(1, 100))).items:
            endpoints = [e for e in instance.endpoints if e.enabled and e.domain]
            domains += [(instance.name, e.network_type, e.domain) for e in endpoints]
            if not endpoints:
                domains.append((instance.name, "this server", pull_address(context, instance)))
    keys = None
    if user.may(actions.LIST_ACCESS_KEYS, me):
        keys = await svc.credentials.list_access_keys(user.name)
    values.setdefault("errors", {})
    values.setdefault("notice", NOTICES.get(context.query("notice"), ""))
    return context.render(
        "credentials.html",
        status=status,
        domains=domains,
        keys=keys,
        may_set_password=user.may(actions.SET_REGISTRY_PASSWORD, me),
        may_get_token=user.may(actions.GET_AUTHORIZATION_TOKEN, "*"),
        may_create_key=user.may(actions.CREATE_ACCESS_KEY, me),
        may_update_key=user.may(actions.UPDATE_ACCESS_KEY, me),
        may_delete_key=user.may(actions.DELETE_ACCESS_KEY, me),
        **values,
    )


async def _own(context: PageContext, action: str) -> str:
    """The visitor's own user ARN, once ``action`` on it is allowed."""
    me = await context.svc.credentials.user_arn(context.user.name)
    await context.user.require(context.svc.audit, action, me)
    return me


async def set_registry_password(context: PageContext) -> Response:
    user, form = context.user, context.form
    await _own(context, actions.SET_REGISTRY_PASSWORD)
    try:
        await context.svc.credentials.set_registry_password(
            user.principal,
            user.name,
            form.secret("password"),
            form.secret("confirm"),
            address=user.source_ip,
        )
    except InvalidInputError as exc:
        return await credentials_page(context, 400, errors={"password": exc.message})
    return redirect(f"{PATH}?notice=password")


async def temporary_credentials(context: PageContext) -> Response:
    user = context.user
    await user.require(context.svc.audit, actions.GET_AUTHORIZATION_TOKEN, "*")
    issued = await context.svc.credentials.authorization_token(
        Authenticated(user.principal, "session"), address=user.source_ip
    )
    return await credentials_page(context, temporary=issued)


async def create_access_key(context: PageContext) -> Response:
    user = context.user
    await _own(context, actions.CREATE_ACCESS_KEY)
    try:
        made = await context.svc.credentials.create_access_key(
            user.principal, user.name, context.form.text("description"), address=user.source_ip
        )
    except (InvalidInputError, LimitExceededError) as exc:
        return await credentials_page(context, 400, errors={"description": exc.message})
    return await credentials_page(context, 201, new_key=made)


async def update_access_key(context: PageContext) -> Response:
    user = context.user
    await _own(context, actions.UPDATE_ACCESS_KEY)
    status = "disabled" if context.form.text("status") == "disabled" else "active"
    await context.svc.credentials.update_access_key(
        user.principal, user.name, context.param("key_id"), status, address=user.source_ip
    )
    return redirect(f"{PATH}?notice={status}")


async def delete_access_key_page(context: PageContext) -> Response:
    await _own(context, actions.DELETE_ACCESS_KEY)
    return context.render("access_key_delete.html", key_id=context.param("key_id"))


async def delete_access_key(context: PageContext) -> Response:
    user = context.user
    await _own(context, actions.DELETE_ACCESS_KEY)
    await context.svc.credentials.delete_access_key(
        user.principal, user.name, context.param("key_id"), address=user.source_ip
    )
    return redirect(f"{PATH}?notice=deleted")


def routes(svc: ConsoleServices) -> list[Route]:
    key = PATH + "/access-keys/{key_id}"
    return [
        Route(PATH, page(svc, credentials_page), methods=["GET"]),
        Route(PATH + "/registry-password", page(svc, set_registry_password), methods=["POST"]),
        Route(PATH + "/temporary", page(svc, temporary_credentials), methods=["POST"]),
        Route(PATH + "/access-keys", page(svc, create_access_key), methods=["POST"]),
        Route(key, page(svc, update_access_key), methods=["POST"]),
        Route(key + "/delete", page(svc, delete_access_key_page), methods=["GET"]),
        Route(key + "/delete", page(svc, delete_access_key), methods=["POST"]),
    ]
