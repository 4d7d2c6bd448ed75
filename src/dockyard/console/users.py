"""Users (administrators): list, create with an initial password, organization, roles and
logon policy; a user's page to disable or enable them, reset their console password and
require MFA; over ``IdentityServices.users`` and ``SignInService``, as the API's routes."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from dockyard.services.access import actions
from dockyard.services.identity import Caller
from dockyard.services.identity.users import UserChanges, UserCreate
from dockyard.services.paging import PageRequest

PATH = "/console/users"
#: Choices offered in the create form (the first page of each).
CHOICES = PageRequest(1, 100)

NOTICES = {
    "reset": "The password is reset: the user must change it at the next sign-in, and every "
    "session of theirs has ended.",
    "disabled": "The user is disabled: every session of theirs has ended.",
    "enabled": "The user is enabled.",
    "mfa-on": "MFA is required: the user binds a device at the next sign-in.",
    "mfa-off": "MFA is no longer required; the bound device is forgotten.",
}

#: Service field names (in its messages and details) as the create form names its fields.
FIELDS = {
    "username": "username",
    "displayName": "display_name",
    "email": "email",
    "phone": "phone",
    "landline": "landline",
    "password": "password",
    "organizationId": "organization_id",
    "roles": "roles",
    "logonPolicy": "logon_policy",
}


def _caller(context: PageContext) -> Caller:
    user = context.user
    return Caller.of(user.principal, user.source_ip)


#: The identity rules' ``invalid <what> '<value>': <rule>`` messages, by what they name.
_INVALID = re.compile(r"^invalid (username|displayName|email|phone|landline) ")


def _field(exc: InvalidInputError | NotFoundError | AlreadyExistsError) -> str:
    """Which form field a service refusal is about: its detail, its ``field:`` prefix or
    the value its ``invalid …`` message names."""
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    named = str(detail.get("field") or exc.message.partition(":")[0])
    invalid = _INVALID.match(exc.message)
    if invalid:
        named = invalid.group(1)
    return FIELDS.get(named, "username" if isinstance(exc, AlreadyExistsError) else "form")


async def users_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    users = svc.identity.users
    await user.require(svc.audit, actions.LIST_USERS, await users.ram_arn("*"))
    listing = await users.list_users(PageRequest(context.page_number(), PAGE_SIZE))
    may_create = user.may(actions.CREATE_USER, "*")
    choices: dict[str, Any] = {"organizations": [], "roles": [], "logon_policies": []}
    if may_create:
        identity = svc.identity
        choices = {
            "organizations": (await identity.organizations.list_organizations(CHOICES)).items,
            "roles": (await identity.roles.list_roles(CHOICES)).items,
            "logon_policies": (await identity.logon_policies.list_logon_policies(CHOICES)).items,
        }
    values.setdefault("errors", {})
    values.setdefault("form", {})
    return context.render(
        "users.html", status=status, listing=listing, may_create=may_create, **choices, **values
    )


async def create_user(context: PageContext) -> Response:
    user, svc, form = context.user, context.svc, context.form
    await user.require(svc.audit, actions.CREATE_USER, "*")
    spec = UserCreate(
        username=form.text("username"),
        display_name=form.text("display_name"),
        organization_id=form.text("organization_id"),
        email=form.text("email"),
        phone=form.text("phone"),
        password=form.secret("password"),
        landline=form.text("landline"),
        notify_email=form.checked("notify_email"),
        logon_policy=form.text("logon_policy") or None,
        roles=tuple(form.all("roles")),
    )
    try:
        made = await svc.identity.users.create_user(_caller(context), spec)
    except (InvalidInputError, NotFoundError, AlreadyExistsError, ConflictError) as exc:
        field = _field(exc) if not isinstance(exc, ConflictError) else "form"
        sent: dict[str, Any] = {name: form.text(name) for name in FIELDS.values()}
        sent["roles"] = form.all("roles")
        return await users_page(context, 400, errors={field: exc.message}, form=sent)
    return redirect(f"{PATH}/{made.username}")


async def user_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    users = svc.identity.users
    name = context.param("username")
    arn = await users.ram_arn(f"user/{name}")
    await user.require(svc.audit, actions.GET_USER, arn)
    shown = await users.get_user(name)
    values.setdefault("errors", {})
    return context.render(
        "user.html",
        status=status,
        shown=shown,
        notice=NOTICES.get(context.query("notice"), ""),
        may_update=user.may(actions.UPDATE_USER, arn),
        may_reset=user.may(actions.RESET_PASSWORD, arn),
        may_set_mfa=user.may(actions.SET_USER_MFA, arn),
        **values,
    )


async def _user_arn(context: PageContext, action: str) -> str:
    name = context.param("username")
    await context.user.require(
        context.svc.audit, action, await context.svc.identity.users.ram_arn(f"user/{name}")
    )
    return name


async def set_disabled(context: PageContext) -> Response:
    name = await _user_arn(context, actions.UPDATE_USER)
    disabled = context.form.text("disabled") == "true"
    await context.svc.identity.users.update_user(
        _caller(context), name, UserChanges(disabled=disabled)
    )
    return redirect(f"{PATH}/{name}?notice={'disabled' if disabled else 'enabled'}")


async def reset_password(context: PageContext) -> Response:
    name = await _user_arn(context, actions.RESET_PASSWORD)
    user = context.user
    try:
        await context.svc.signin.reset_password(
            name,
            context.form.secret("password"),
            actor=user.name,
            actor_id=user.principal.user_id,
            source_ip=user.source_ip,
        )
    except InvalidInputError as exc:
        return await user_page(context, 400, errors={"password": exc.message})
    return redirect(f"{PATH}/{name}?notice=reset")


async def set_mfa(context: PageContext) -> Response:
    name = await _user_arn(context, actions.SET_USER_MFA)
    required = context.form.text("required") == "true"
    await context.svc.identity.users.set_user_mfa(_caller(context), name, required)
    return redirect(f"{PATH}/{name}?notice={'mfa-on' if required else 'mfa-off'}")


def routes(svc: ConsoleServices) -> list[Route]:
    one = PATH + "/{username}"
    return [
        Route(PATH, page(svc, users_page), methods=["GET"]),
        Route(PATH, page(svc, create_user), methods=["POST"]),
        Route(one, page(svc, user_page), methods=["GET"]),
        Route(one + "/disabled", page(svc, set_disabled), methods=["POST"]),
        Route(one + "/password", page(svc, reset_password), methods=["POST"]),
        Route(one + "/mfa", page(svc, set_mfa), methods=["POST"]),
    ]
