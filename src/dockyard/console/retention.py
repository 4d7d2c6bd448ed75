"""An instance's tag retention policies (Advanced edition): list, create, change, delete;
a dry run that lists exactly what an execution would delete now, the execution after that
confirmation, and the record of past runs. Authorized on the instance's ARN, as the API's
retention routes are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE, instance_path
from dockyard.console.pages import PageContext, page, redirect
from dockyard.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from dockyard.services.access import InstanceRef, actions
from dockyard.services.paging import PageRequest
from dockyard.services.retention import PolicyChanges, PolicySpec

_FIELDS = ("name", "keep_latest", "scope", "namespace", "repositories", "keep_tags", "schedule")
_BLANK_FORM = dict.fromkeys(_FIELDS, "") | {"keep_latest": "10", "scope": "namespace"}


@dataclass(frozen=True, slots=True)
class _Instance:
    ref: InstanceRef
    arn: str


async def _instance(context: PageContext, action: str) -> _Instance:
    ref = await context.svc.tenancy.instance_ref(context.param("instance_id"))
    arn = actions.instance_arn(ref)
    await context.user.require(context.svc.audit, action, arn)
    return _Instance(ref, arn)


def _keep_latest(text: str) -> int:
    if not text.isdigit():
        raise InvalidInputError("retain the latest N images: N must be a whole number, 1 or more")
    return int(text)


def _path(instance: _Instance) -> str:
    return f"{instance_path(instance.ref.id)}/retention"


async def policies_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    instance = await _instance(context, actions.LIST_RETENTION_POLICY)
    advanced = instance.ref.edition == "Advanced"
    listing = None
    if advanced:
        listing = await context.svc.retention.list_policies(
            instance.ref.id, PageRequest(context.page_number(), PAGE_SIZE)
        )
    values.setdefault("errors", {})
    values.setdefault("form", _BLANK_FORM)
    return context.render(
        "retention.html",
        status=status,
        instance=instance.ref,
        here=_path(instance),
        advanced=advanced,
        policies=listing,
        may_create=context.user.may(actions.CREATE_RETENTION_POLICY, instance.arn),
        **values,
    )


async def create_policy(context: PageContext) -> Response:
    instance = await _instance(context, actions.CREATE_RETENTION_POLICY)
    form = context.form
    sent = {name: form.text(name) for name in _FIELDS}
    by_namespace = sent["scope"] != "repositories"
    try:
        spec = PolicySpec(
            sent["name"],
            _keep_latest(sent["keep_latest"]),
            namespace=sent["namespace"] if by_namespace else None,
            repositories=None if by_namespace else sent["repositories"].split(),
            keep_tags=sent["keep_tags"] or None,
            schedule=sent["schedule"] or None,
        )
        await context.svc.retention.create(
            instance.ref.id, spec, actor=context.user.actor, resource=instance.arn
        )
    except (InvalidInputError, AlreadyExistsError, NotFoundError) as exc:
        return await policies_page(context, 400, errors={"form": exc.message}, form=sent)
    return redirect(f"{_path(instance)}/{sent['name']}")


async def policy_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    instance = await _instance(context, actions.GET_RETENTION_POLICY)
    user, svc, name = context.user, context.svc, context.param("name")
    policy = await svc.retention.get(instance.ref.id, name)
    runs = None
    if user.may(actions.LIST_RETENTION_RUN, instance.arn):
        runs = await svc.retention.runs(
            instance.ref.id, name, PageRequest(context.page_number(), PAGE_SIZE)
        )
    values.setdefault("errors", {})
    values.setdefault("plan", None)
    return context.render(
        "retention_policy.html",
        status=status,
        instance=instance.ref,
        here=f"{_path(instance)}/{name}",
        listing=_path(instance),
        policy=policy,
        runs=runs,
        may_update=user.may(actions.UPDATE_RETENTION_POLICY, instance.arn),
        may_delete=user.may(actions.DELETE_RETENTION_POLICY, instance.arn),
        may_execute=user.may(actions.EXECUTE_RETENTION_POLICY, instance.arn),
        **values,
    )


async def dry_run(context: PageContext) -> Response:
    """The confirmation step: what an execution would delete now, with the button that
    executes the policy."""
    instance = await _instance(context, actions.EXECUTE_RETENTION_POLICY)
    plan = await context.svc.retention.dry_run(instance.ref.id, context.param("name"))
    return await policy_page(context, plan=plan)


async def execute(context: PageContext) -> Response:
    instance = await _instance(context, actions.EXECUTE_RETENTION_POLICY)
    name = context.param("name")
    await context.svc.retention.execute(
        instance.ref.id, name, actor=context.user.actor, resource=instance.arn
    )
    return redirect(f"{_path(instance)}/{name}")


async def update_policy(context: PageContext) -> Response:
    instance = await _instance(context, actions.UPDATE_RETENTION_POLICY)
    form, name = context.form, context.param("name")
    try:
        changes = PolicyChanges(
            keep_latest=_keep_latest(form.text("keep_latest")),
            keep_tags=form.text("keep_tags"),
            schedule=form.text("schedule"),
        )
        await context.svc.retention.update(
            instance.ref.id, name, changes, actor=context.user.actor, resource=instance.arn
        )
    except InvalidInputError as exc:
        return await policy_page(context, 400, errors={"settings": exc.message})
    return redirect(f"{_path(instance)}/{name}")


async def delete_policy(context: PageContext) -> Response:
    instance = await _instance(context, actions.DELETE_RETENTION_POLICY)
    await context.svc.retention.delete(
        instance.ref.id, context.param("name"), actor=context.user.actor, resource=instance.arn
    )
    return redirect(_path(instance))


def routes(svc: ConsoleServices) -> list[Route]:
    base = "/console/instances/{instance_id}/retention"
    one = base + "/{name}"
    return [
        Route(base, page(svc, policies_page), methods=["GET"]),
        Route(base, page(svc, create_policy), methods=["POST"]),
        Route(one, page(svc, policy_page), methods=["GET"]),
        Route(one + "/settings", page(svc, update_policy), methods=["POST"]),
        Route(one + "/dry-run", page(svc, dry_run), methods=["GET"]),
        Route(one + "/runs", page(svc, execute), methods=["POST"]),
        Route(one + "/delete", page(svc, delete_policy), methods=["POST"]),
    ]
