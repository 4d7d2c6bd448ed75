"""Editing identity objects after creation (organizations, groups, resource sets, logon
policies): one page per object with the fields its API update takes, authorized and
audited as the API's PATCH route is, the ETag it was read at sent back so that a change
made meanwhile is refused rather than overwritten. A refusal is shown at its field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.logon_policies import parse_networks, parse_windows
from dockyard.console.pages import Form, PageContext, page, redirect
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from dockyard.services.access import actions
from dockyard.services.identity import Caller, IdentityServices
from dockyard.services.paging import PageRequest

_REFUSED = (InvalidInputError, AlreadyExistsError, NotFoundError, ConflictError)
CHOICES = PageRequest(1, 500)

Load = Callable[[IdentityServices, str], Awaitable[Any]]
Save = Callable[[IdentityServices, Caller, str, Form, str | None], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Editable:
    #: The ARN kind (``acs:ram::$account:<kind>/<key>``) the update is authorized on.
    kind: str
    #: How the page names one ("group").
    noun: str
    action: str
    load: Load
    #: The form's fields, in order: ``name``, ``description``, ``organization`` (a choice
    #: of organizations), ``time_windows`` and ``cidrs`` (one a line).
    fields: tuple[str, ...]
    save: Save
    #: Where to go after saving, given the saved view.
    after: Callable[[Any], str]


def _windows_text(view: Any) -> str:
    return "\n".join(f"{w['start']}-{w['end']}" for w in view.time_windows)


async def _save_organization(
    ids: IdentityServices, caller: Caller, key: str, form: Form, etag: str | None
) -> Any:
    return await ids.organizations.update_organization(
        caller,
        key,
        if_match=etag,
        name=form.text("name"),
        description=form.text("description"),
        parent_id=form.text("organization") or None,
    )


def _placement(update: Callable[[IdentityServices], Callable[..., Awaitable[Any]]]) -> Save:
    """The save of a group or resource set (``update`` picks its service's update): a new
    name, description or organization."""

    async def save(
        ids: IdentityServices, caller: Caller, key: str, form: Form, etag: str | None
    ) -> Any:
        return await update(ids)(
            caller,
            key,
            etag,
            new_name=form.text("name"),
            description=form.text("description"),
            organization_id=form.text("organization") or None,
        )

    return save


async def _save_logon_policy(
    ids: IdentityServices, caller: Caller, key: str, form: Form, etag: str | None
) -> Any:
    return await ids.logon_policies.update_logon_policy(
        caller,
        key,
        etag,
        description=form.text("description"),
        time_windows=parse_windows(form.secret("time_windows")),
        cidrs=parse_networks(form.secret("cidrs")),
    )


#: By the console's path segment of the object's pages.
EDITABLE = {
    "organizations": Editable(
        "organization",
        "organization",
        actions.UPDATE_ORGANIZATION,
        lambda ids, key: ids.organizations.get_organization(key),
        ("name", "description", "organization"),
        _save_organization,
        lambda _view: "/console/organizations",
    ),
    "groups": Editable(
        "group",
        "group",
        actions.UPDATE_GROUP,
        lambda ids, key: ids.groups.get_group(key),
        ("name", "description", "organization"),
        _placement(lambda ids: ids.groups.update_group),
        lambda view: f"/console/groups/{view.name}",
    ),
    "resource-sets": Editable(
        "resourceset",
        "resource set",
        actions.UPDATE_RESOURCE_SET,
        lambda ids, key: ids.resource_sets.get_resource_set(key),
        ("name", "description", "organization"),
        _placement(lambda ids: ids.resource_sets.update_resource_set),
        lambda view: f"/console/resource-sets/{view.name}",
    ),
    "logon-policies": Editable(
        "logonpolicy",
        "logon policy",
        actions.UPDATE_LOGON_POLICY,
        lambda ids, key: ids.logon_policies.get_logon_policy(key),
        ("description", "time_windows", "cidrs"),
        _save_logon_policy,
        lambda _view: "/console/logon-policies",
    ),
}


def _current(view: Any) -> dict[str, str]:
    """The form's values as the object stands."""
    organization = getattr(view, "parent_id", None) or getattr(view, "organization_id", None)
    return {
        "name": view.name,
        "description": view.description,
        "organization": organization or "",
        "time_windows": _windows_text(view) if hasattr(view, "time_windows") else "",
        "cidrs": "\n".join(getattr(view, "cidrs", ())),
    }


def _field_of(message: str, fields: tuple[str, ...]) -> str:
    """The field a service's message is about (it names the API's field first)."""
    prefixes = {
        "timeWindows": "time_windows",
        "cidrs": "cidrs",
        "parentId": "organization",
        "organizationId": "organization",
        "description": "description",
    }
    for prefix, field in prefixes.items():
        if message.startswith(prefix) and field in fields:
            return field
    return "name" if "name" in fields else "form"


async def _authorized(context: PageContext, collection: str) -> tuple[Editable, str]:
    editable, key = EDITABLE[collection], context.param("name")
    arn = await context.svc.identity.users.ram_arn(f"{editable.kind}/{key}")
    await context.user.require(context.svc.audit, editable.action, arn)
    return editable, key


def _edit_page(collection: str) -> Callable[..., Awaitable[Response]]:
    async def edit_page(context: PageContext, status: int = 200, **values: Any) -> Response:
        editable, key = await _authorized(context, collection)
        ids = context.svc.identity
        view = await editable.load(ids, key)
        organizations = []
        if "organization" in editable.fields:
            listed = (await ids.organizations.list_organizations(CHOICES)).items
            organizations = sorted((o for o in listed if o.id != key), key=lambda o: o.name)
        values.setdefault("errors", {})
        values.setdefault("form", _current(view))
        return context.render(
            "edit.html",
            status=status,
            collection=collection,
            key=key,
            editable=editable,
            view=view,
            organizations=organizations,
            **values,
        )

    return edit_page


def _saver(collection: str) -> Callable[[PageContext], Awaitable[Response]]:
    shown = _edit_page(collection)

    async def save(context: PageContext) -> Response:
        editable, key = await _authorized(context, collection)
        form = context.form
        try:
            view = await editable.save(
                context.svc.identity, context.user.caller, key, form, form.text("etag") or None
            )
        except _REFUSED as exc:
            sent = {name: form.secret(name) for name in editable.fields}
            field = (
                "form"
                if isinstance(exc, PreconditionFailedError)
                else _field_of(exc.message, editable.fields)
            )
            return await shown(context, 400, errors={field: exc.message}, form=sent)
        return redirect(editable.after(view))

    return save


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        route
        for collection in EDITABLE
        for route in (
            Route(
                f"/console/{collection}/{{name}}/edit",
                page(svc, _edit_page(collection)),
                methods=["GET"],
            ),
            Route(
                f"/console/{collection}/{{name}}/edit",
                page(svc, _saver(collection)),
                methods=["POST"],
            ),
        )
    ]
