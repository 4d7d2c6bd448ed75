"""Replication in the console: the "Replicate" form of a repository (a tag or a tag regex,
to another instance or a remote), an instance's tasks (filtered by status, paged) with
each task's per-layer records, cancel and retry, and its rules (create, enable or
disable, delete). Authorized as the API's replication routes are: a task on its source
repository, a rule on its source, and another instance of the deployment as a
destination only for those allowed to push there."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from dockyard.console.context import ConsoleServices
from dockyard.console.instances import PAGE_SIZE, instance_path
from dockyard.console.pages import PageContext, page, redirect
from dockyard.console.targets import repository_target
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DeniedError,
    EditionRequiredError,
    InvalidInputError,
    NotFoundError,
)
from dockyard.services.access import InstanceRef, actions
from dockyard.services.paging import PageRequest
from dockyard.services.replication import (
    TASK_STATES,
    ReplicationRequest,
    RuleSpec,
    TaskView,
    check_source,
    rule_arn,
    rule_target,
    task_arn,
)

CHOICES = PageRequest(1, 100)
_REFUSED = (
    InvalidInputError,
    NotFoundError,
    AlreadyExistsError,
    ConflictError,
    DeniedError,
    EditionRequiredError,
)


def _path(instance_id: str) -> str:
    return f"{instance_path(instance_id)}/replication"


async def _require_push_at(
    context: PageContext, instance: InstanceRef, to: str, target: tuple[str, str]
) -> None:
    user = context.user
    await context.svc.replication.require_push_at(
        instance.id, to, target, allows=user.may, actor=user.actor
    )


async def destinations(context: PageContext, instance: InstanceRef) -> list[tuple[str, str]]:
    """(value, label) of every place a task may go that the visitor may list: the other
    instances, then the instance's remotes."""
    svc, user = context.svc, context.user
    instances, remotes = [], []
    if user.may(actions.LIST_INSTANCE, "*"):
        instances = (await svc.tenancy.list_instances(CHOICES)).items
    if user.may(actions.LIST_REPLICATION_REMOTE, actions.instance_arn(instance)):
        remotes = (await svc.replication.list_remotes(instance.id, CHOICES)).items
    instance_id = instance.id
    return [
        *((i.id, f"instance {i.name} ({i.id})") for i in instances if i.id != instance_id),
        *((r.name, f"remote {r.name} ({r.url})") for r in remotes),
    ]


_BLANK = {
    "to": "",
    "tag": "",
    "tags": "",
    "namespace": "",
    "repository": "",
    "destination_tag": "",
}


async def replicate_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    """The "Replicate" form of a repository: a tag (or a tag regex) to another instance or
    a remote, optionally under other names."""
    target = await repository_target(context, actions.CREATE_REPO_SYNC_TASK)
    svc, ref = context.svc, target.instance
    repo = await svc.tenancy.repository_ref(ref.id, target.namespace, target.name)
    tags = sorted(p.name for p in await svc.content.tag_pointers(repo))
    values.setdefault("errors", {})
    values.setdefault("form", {**_BLANK, "tag": context.query("tag")})
    return context.render(
        "replicate.html",
        status=status,
        target=target,
        tags=tags,
        destinations=await destinations(context, ref),
        **values,
    )


async def replicate(context: PageContext) -> Response:
    """One task per tag, then the tasks of this repository."""
    target = await repository_target(context, actions.CREATE_REPO_SYNC_TASK)
    form, ref = context.form, target.instance
    to, tag, tags = form.text("to"), form.text("tag"), form.text("tags")
    namespace = form.text("namespace") or target.namespace
    repository = form.text("repository") or target.name
    request = ReplicationRequest(
        f"{target.namespace}/{target.name}",
        to,
        tag=tag or None,
        tags=None if tag else tags or None,
        namespace=form.text("namespace") or None,
        destination_repository=form.text("repository") or None,
        destination_tag=form.text("destination_tag") or None,
        overwrite=form.checked("overwrite"),
    )
    try:
        await _require_push_at(context, ref, to, (namespace, repository))
        await context.svc.replication.replicate(
            ref.id, request, actor=context.user.actor, resource=target.resource
        )
    except _REFUSED as exc:
        sent = {name: form.text(name) for name in _BLANK}
        return await replicate_page(context, 400, errors={"form": exc.message}, form=sent)
    full_name = f"{target.namespace}/{target.name}"
    return redirect(f"{_path(ref.id)}?repository={full_name}")


async def replication_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    user, svc = context.user, context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    every_repository = actions.repository_list_arn(ref, None)
    repository = context.query("repository")[:256] or None
    if repository:
        namespace, _, name = repository.partition("/")
        await user.require(
            svc.audit, actions.LIST_REPO_SYNC_TASK, actions.repository_arn(ref, namespace, name)
        )
    else:
        await user.require(svc.audit, actions.LIST_REPO_SYNC_TASK, every_repository)
    wanted = context.query("status")
    chosen = wanted if wanted in TASK_STATES else None
    tasks = await svc.replication.list_tasks(
        ref.id,
        PageRequest(context.page_number(), PAGE_SIZE),
        status=chosen,
        repository=repository,
    )
    rules = None
    if user.may(actions.LIST_REPO_SYNC_RULE, every_repository):
        rules = await svc.replication_rules.list_rules(ref.id, CHOICES)
    may_create_rule = ref.edition == "Advanced" and user.may(
        actions.CREATE_REPO_SYNC_RULE, every_repository
    )
    values.setdefault("errors", {})
    values.setdefault(
        "form", {"name": "", "to": "", "level": "namespace", "source": "", "tags": ".*"}
    )
    extra = "&".join(f"{k}={v}" for k, v in (("status", chosen), ("repository", repository)) if v)
    return context.render(
        "replication.html",
        status=status,
        instance=ref,
        here=_path(ref.id),
        tasks=tasks,
        statuses=TASK_STATES,
        wanted_status=chosen or "",
        repository=repository or "",
        extra=extra,
        rules=rules,
        destinations=await destinations(context, ref) if may_create_rule else [],
        may_create_rule=may_create_rule,
        may_change_rules=user.may(actions.UPDATE_REPO_SYNC_RULE, every_repository),
        may_delete_rules=user.may(actions.DELETE_REPO_SYNC_RULE, every_repository),
        may_list_remotes=user.may(actions.LIST_REPLICATION_REMOTE, actions.instance_arn(ref)),
        **values,
    )


async def _task(context: PageContext, action: str) -> tuple[InstanceRef, TaskView, str]:
    """The task in the path, once ``action`` is allowed on its source repository."""
    svc = context.svc
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    try:
        task_id = uuid.UUID(context.param("task_id"))
    except ValueError as exc:
        raise NotFoundError("no such replication task") from exc
    view = await svc.replication.find_task(ref.id, task_id)
    if view is None:
        raise NotFoundError(f"replication task {task_id} does not exist")
    resource = task_arn(ref, view.source_repository)
    await context.user.require(svc.audit, action, resource)
    return ref, view, resource


async def task_page(context: PageContext) -> Response:
    ref, view, resource = await _task(context, actions.GET_REPO_SYNC_TASK)
    user = context.user
    return context.render(
        "replication_task.html",
        instance=ref,
        listing=_path(ref.id),
        task=view,
        may_cancel=user.may(actions.CANCEL_REPO_SYNC_TASK, resource),
        may_retry=user.may(actions.CREATE_REPO_SYNC_TASK, resource),
    )


async def cancel_task(context: PageContext) -> Response:
    ref, view, resource = await _task(context, actions.CANCEL_REPO_SYNC_TASK)
    await context.svc.replication.cancel_task(
        ref.id, view.id, actor=context.user.actor, resource=resource
    )
    return redirect(f"{_path(ref.id)}/tasks/{view.id}")


async def retry_task(context: PageContext) -> Response:
    ref, view, resource = await _task(context, actions.CREATE_REPO_SYNC_TASK)
    await context.svc.replication.retry_task(
        ref.id, view.id, actor=context.user.actor, resource=resource
    )
    return redirect(f"{_path(ref.id)}/tasks/{view.id}")


_BLANK_RULE = {"name": "", "to": "", "level": "namespace", "source": "", "tags": ".*"}


async def create_rule(context: PageContext) -> Response:
    svc, form = context.svc, context.form
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    sent = {name: form.text(name) for name in ("name", "to", "level", "source", "tags")}
    try:
        check_source(sent["level"], sent["source"])
        resource = rule_arn(ref, sent["level"], sent["source"])
        await context.user.require(svc.audit, actions.CREATE_REPO_SYNC_RULE, resource)
        target = rule_target(sent["level"], sent["source"])
        await _require_push_at(context, ref, sent["to"], target)
        spec = RuleSpec(
            sent["name"], sent["to"], sent["level"], sent["source"], sent["tags"] or ".*"
        )
        await svc.replication_rules.create(
            ref.id, spec, actor=context.user.actor, resource=resource
        )
    except _REFUSED as exc:
        return await replication_page(context, 400, errors={"rule": exc.message}, form=sent)
    return redirect(_path(ref.id))


async def _rule_change(context: PageContext, action: str) -> tuple[InstanceRef, str, str]:
    svc, name = context.svc, context.param("name")
    ref = await svc.tenancy.instance_ref(context.param("instance_id"))
    view = await svc.replication_rules.find(ref.id, name)
    if view is None:
        raise NotFoundError(f"replication rule {name} does not exist")
    resource = rule_arn(ref, view.level, view.source)
    await context.user.require(svc.audit, action, resource)
    return ref, name, resource


async def toggle_rule(context: PageContext) -> Response:
    ref, name, resource = await _rule_change(context, actions.UPDATE_REPO_SYNC_RULE)
    enabled = context.form.text("enabled") == "true"
    await context.svc.replication_rules.set_enabled(
        ref.id, name, enabled, actor=context.user.actor, resource=resource
    )
    return redirect(_path(ref.id))


async def delete_rule(context: PageContext) -> Response:
    ref, name, resource = await _rule_change(context, actions.DELETE_REPO_SYNC_RULE)
    await context.svc.replication_rules.delete(
        ref.id, name, actor=context.user.actor, resource=resource
    )
    return redirect(_path(ref.id))


def routes(svc: ConsoleServices) -> list[Route]:
    base = "/console/instances/{instance_id}/replication"
    repo = "/console/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}"
    return [
        Route(repo + "/replicate", page(svc, replicate_page), methods=["GET"]),
        Route(repo + "/replicate", page(svc, replicate), methods=["POST"]),
        Route(base, page(svc, replication_page), methods=["GET"]),
        Route(base + "/tasks/{task_id}", page(svc, task_page), methods=["GET"]),
        Route(base + "/tasks/{task_id}/cancel", page(svc, cancel_task), methods=["POST"]),
        Route(base + "/tasks/{task_id}/retry", page(svc, retry_task), methods=["POST"]),
        Route(base + "/rules", page(svc, create_rule), methods=["POST"]),
        Route(base + "/rules/{name}/enabled", page(svc, toggle_rule), methods=["POST"]),
        Route(base + "/rules/{name}/delete", page(svc, delete_rule), methods=["POST"]),
    ]
