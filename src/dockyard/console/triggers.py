"""A repository's webhook triggers (list, create with the secret shown once, ping, delete)
and its trigger log (filter by trigger and status, redeliver), as the API's trigger routes
authorize them: every page on the repository's ARN, URLs unmasked only for those who may
change triggers."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.targets import Target, repository_target
from dockyard.errors import AlreadyExistsError, InvalidInputError, LimitExceededError
from dockyard.services.access import actions
from dockyard.services.paging import PageRequest
from dockyard.services.triggers import STATUSES, TriggerChanges, TriggerSpec, TriggerView

_BLANK_FORM = {"name": "", "url": "", "mode": "every", "expression": "", "tags": ""}


def _repository_path(target: Target) -> str:
    return (
        f"/console/instances/{target.instance.id}/namespaces/{target.namespace}"
        f"/repositories/{target.name}"
    )


async def triggers_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    target = await repository_target(context, actions.LIST_REPO_TRIGGER)
    user, svc = context.user, context.svc
    may_change = user.may(actions.UPDATE_WEBHOOK, target.resource)
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    listing = await svc.triggers.list_triggers(
        repo, PageRequest(context.page_number(), PAGE_SIZE), reveal=may_change
    )
    values.setdefault("errors", {})
    values.setdefault("form", _BLANK_FORM)
    values.setdefault("created", None)
    return context.render(
        "triggers.html",
        status=status,
        target=target,
        here=_repository_path(target),
        triggers=listing,
        may_create=user.may(actions.CREATE_REPO_TRIGGER, target.resource),
        may_change=may_change,
        may_delete=user.may(actions.DELETE_REPO_TRIGGER, target.resource),
        may_read_log=user.may(actions.LIST_REPO_TRIGGER_RECORD, target.resource),
        **values,
    )


async def create_trigger(context: PageContext) -> Response:
    target = await repository_target(context, actions.CREATE_REPO_TRIGGER)
    form, svc = context.form, context.svc
    sent = {name: form.text(name) for name in _BLANK_FORM}
    mode = sent["mode"]
    spec = TriggerSpec(
        sent["name"],
        sent["url"],
        mode,
        expression=sent["expression"] if mode == "expression" else None,
        tags=sent["tags"].replace(",", " ").split() if mode == "tags" else None,
        cloudevents=form.checked("cloudevents"),
        secret=form.checked("secret"),
    )
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    try:
        created = await svc.triggers.create(
            repo, spec, actor=context.user.actor, resource=target.resource
        )
    except (InvalidInputError, AlreadyExistsError, LimitExceededError) as exc:
        return await triggers_page(context, 400, errors={"form": exc.message}, form=sent)
    # The secret is shown once, on this answer: no redirect.
    return await triggers_page(context, 201, created=created)


def _settings_form(trigger: TriggerView) -> dict[str, Any]:
    return {
        "url": trigger.url,
        "mode": trigger.mode,
        "expression": trigger.expression or "",
        "tags": " ".join(trigger.tags),
        "cloudevents": trigger.cloudevents,
    }


async def trigger_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    """A trigger's settings: URL, when it fires, format and secret (as the API's PATCH)."""
    target = await repository_target(context, actions.UPDATE_WEBHOOK)
    svc = context.svc
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    trigger = await svc.triggers.get(repo, context.param("name"), reveal=True)
    values.setdefault("errors", {})
    values.setdefault("form", _settings_form(trigger))
    values.setdefault("saved", None)
    return context.render(
        "trigger.html",
        status=status,
        target=target,
        here=_repository_path(target),
        trigger=trigger,
        **values,
    )


async def update_trigger(context: PageContext) -> Response:
    target = await repository_target(context, actions.UPDATE_WEBHOOK)
    form, svc = context.form, context.svc
    mode = form.text("mode")
    secret = {"new": True, "remove": False}.get(form.text("secret"))
    changes = TriggerChanges(
        url=form.text("url"),
        mode=mode,
        expression=form.text("expression") if mode == "expression" else None,
        tags=form.text("tags").replace(",", " ").split() if mode == "tags" else None,
        cloudevents=form.checked("cloudevents"),
        secret=secret,
    )
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    try:
        saved = await svc.triggers.update(
            repo, context.param("name"), changes, actor=context.user.actor, resource=target.resource
        )
    except (InvalidInputError, LimitExceededError) as exc:
        sent: dict[str, Any] = {n: form.text(n) for n in ("url", "mode", "expression", "tags")}
        sent["cloudevents"] = form.checked("cloudevents")
        return await trigger_page(context, 400, errors={"form": exc.message}, form=sent)
    # A new secret is shown once, on this answer: no redirect.
    return await trigger_page(context, saved=saved, form=_settings_form(saved))


async def ping_trigger(context: PageContext) -> Response:
    target = await repository_target(context, actions.UPDATE_WEBHOOK)
    svc = context.svc
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    name = context.param("name")
    await svc.triggers.ping(repo, name, actor=context.user.actor, resource=target.resource)
    return redirect(f"{_repository_path(target)}/trigger-records?trigger={name}")


async def delete_trigger(context: PageContext) -> Response:
    target = await repository_target(context, actions.DELETE_REPO_TRIGGER)
    svc = context.svc
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    await svc.triggers.delete(
        repo, context.param("name"), actor=context.user.actor, resource=target.resource
    )
    return redirect(f"{_repository_path(target)}/triggers")


async def records_page(context: PageContext) -> Response:
    target = await repository_target(context, actions.LIST_REPO_TRIGGER_RECORD)
    svc = context.svc
    trigger = context.query("trigger")[:64] or None
    status = context.query("status")
    chosen = status if status in STATUSES else None
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    records = await svc.triggers.log(
        repo, PageRequest(context.page_number(), PAGE_SIZE), trigger=trigger, status=chosen
    )
    extra = "&".join(
        f"{key}={value}" for key, value in (("trigger", trigger), ("status", chosen)) if value
    )
    return context.render(
        "trigger_records.html",
        target=target,
        here=_repository_path(target),
        records=records,
        trigger=trigger or "",
        wanted_status=chosen or "",
        statuses=STATUSES,
        extra=extra,
        may_redeliver=context.user.may(actions.UPDATE_WEBHOOK, target.resource),
    )


async def redeliver(context: PageContext) -> Response:
    target = await repository_target(context, actions.UPDATE_WEBHOOK)
    svc = context.svc
    try:
        record_id = uuid.UUID(context.param("record_id"))
    except ValueError as exc:
        raise InvalidInputError("not a delivery id") from exc
    repo = await svc.tenancy.repository_ref(target.instance.id, target.namespace, target.name)
    await svc.triggers.redeliver(
        repo, record_id, actor=context.user.actor, resource=target.resource
    )
    return redirect(f"{_repository_path(target)}/trigger-records")


def routes(svc: ConsoleServices) -> list[Route]:
    repo = "/console/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}"
    return [
        Route(repo + "/triggers", page(svc, triggers_page), methods=["GET"]),
        Route(repo + "/triggers", page(svc, create_trigger), methods=["POST"]),
        Route(repo + "/triggers/{name}", page(svc, trigger_page), methods=["GET"]),
        Route(repo + "/triggers/{name}", page(svc, update_trigger), methods=["POST"]),
        Route(repo + "/triggers/{name}/ping", page(svc, ping_trigger), methods=["POST"]),
        Route(repo + "/triggers/{name}/delete", page(svc, delete_trigger), methods=["POST"]),
        Route(repo + "/trigger-records", page(svc, records_page), methods=["GET"]),
        Route(
            repo + "/trigger-records/{record_id}/redeliver",
            page(svc, redeliver),
            methods=["POST"],
        ),
    ]
