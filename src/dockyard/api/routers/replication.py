"""Replication of an instance: remotes (on the instance's ARN) and tasks, created under
their source repository and authorized on its ARN (PRODUCT.md §6)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Guard, Services
from dockyard.api.routers._routes import InInstance, InRepository, require_in, route
from dockyard.api.routers.params import InstanceId, Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.replication import (
    RemoteCreate,
    RemoteOut,
    ReplicateRequest,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    TaskOut,
    TasksOut,
)
from dockyard.errors import NotFoundError
from dockyard.services.replication import (
    TASK_STATES,
    RemoteSpec,
    ReplicationRequest,
    RuleSpec,
    RuleView,
    TaskView,
    check_source,
    rule_arn,
    rule_target,
    task_arn,
)

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["replication"])

RemoteName = Annotated[str, Path(max_length=64, description="The remote's name")]
RuleName = Annotated[str, Path(max_length=64, description="The rule's name")]
TaskId = Annotated[uuid.UUID, Path(description="The task's id")]
TASKS = "/namespaces/{namespace}/repositories/{repository}/replication-tasks"


@route(
    router,
    "POST",
    "/replication-remotes",
    actions.CREATE_REPLICATION_REMOTE,
    "Register a remote registry to replicate to (Advanced)",
    errors=(409,),
    status_code=201,
    response_model=RemoteOut,
)
async def create_remote(target: InInstance, body: RemoteCreate) -> RemoteOut:
    spec = RemoteSpec(
        body.name, body.url, body.username, body.secret, body.remote_instance, body.ca_bundle
    )
    view = await target.svc.replication.add_remote(
        target.id, spec, actor=target.actor, resource=target.arn
    )
    return RemoteOut.model_validate(view)


@route(
    router,
    "GET",
    "/replication-remotes",
    actions.LIST_REPLICATION_REMOTE,
    "List the instance's remotes (never their secrets)",
    response_model=Page[RemoteOut],
)
async def list_remotes(target: InInstance, paging: Paging) -> Page[RemoteOut]:
    page = await target.svc.replication.list_remotes(target.id, paging)
    return Page[RemoteOut].model_validate(page)


@route(
    router,
    "DELETE",
    "/replication-remotes/{name}",
    actions.DELETE_REPLICATION_REMOTE,
    "Remove a remote",
    status_code=204,
)
async def delete_remote(target: InInstance, name: RemoteName) -> None:
    await target.svc.replication.remove_remote(
        target.id, name, actor=target.actor, resource=target.arn
    )


@route(
    router,
    "POST",
    TASKS,
    actions.CREATE_REPO_SYNC_TASK,
    "Replicate a tag, or every tag matching a regex, now (one task per tag)",
    status_code=201,
    response_model=TasksOut,
)
async def replicate(target: InRepository, body: ReplicateRequest) -> TasksOut:
    replication, source = target.svc.replication, target.ref
    namespace, _, repository = source.full_name.partition("/")
    await replication.require_push_at(
        source.instance_id,
        body.to,
        (body.namespace or namespace, body.destination_repository or repository),
        allows=target.guard.allows,
        actor=target.actor,
    )
    request = ReplicationRequest(
        source.full_name,
        body.to,
        body.tag,
        body.tags,
        body.namespace,
        body.destination_repository,
        body.destination_tag,
        body.overwrite,
    )
    views = await replication.replicate(
        source.instance_id, request, actor=target.actor, resource=target.arn
    )
    return TasksOut(items=[TaskOut.model_validate(view) for view in views])


@route(
    router,
    "GET",
    "/replication-tasks",
    actions.LIST_REPO_SYNC_TASK,
    "List replication tasks, newest first",
    response_model=Page[TaskOut],
)
async def list_tasks(
    instance_id: InstanceId,
    paging: Paging,
    svc: Services,
    guard: Authz,
    status: Annotated[str | None, Query(description=" | ".join(TASK_STATES))] = None,
    repository: Annotated[str | None, Query(max_length=256, description="`ns/repo`")] = None,
    tag: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[TaskOut]:
    if repository is None:
        await require_in(svc, guard, instance_id, actions.repository_list_arn, None)
    else:
        namespace, _, name = repository.partition("/")
        await require_in(svc, guard, instance_id, actions.repository_arn, namespace, name)
    page = await svc.replication.list_tasks(
        instance_id, paging, status=status, repository=repository, tag=tag
    )
    return Page[TaskOut].model_validate(page)


async def _task_in(
    svc: Services, guard: Guard, instance_id: str, task_id: uuid.UUID
) -> tuple[TaskView, str]:
    """The task, once the route's action is allowed on its source repository. An unknown
    id is 404 only to a caller allowed on every repository of the instance (403 to
    others), so ids do not tell who may see what."""
    view = await svc.replication.find_task(instance_id, task_id)
    if view is None:
        await require_in(svc, guard, instance_id, actions.repository_list_arn, None)
        raise NotFoundError(f"replication task {task_id} does not exist")
    return view, await require_in(svc, guard, instance_id, task_arn, view.source_repository)


@route(
    router,
    "GET",
    "/replication-tasks/{task_id}",
    actions.GET_REPO_SYNC_TASK,
    "Get a replication task with its per-layer records",
    response_model=TaskOut,
)
async def get_task(
    instance_id: InstanceId, task_id: TaskId, svc: Services, guard: Authz
) -> TaskOut:
    view, _ = await _task_in(svc, guard, instance_id, task_id)
    return TaskOut.model_validate(view)


@route(
    router,
    "POST",
    "/replication-tasks/{task_id}/cancel",
    actions.CANCEL_REPO_SYNC_TASK,
    "Cancel a waiting or running task (a running one stops before its next blob)",
    errors=(409,),
    response_model=TaskOut,
)
async def cancel_task(
    instance_id: InstanceId, task_id: TaskId, svc: Services, guard: Authz
) -> TaskOut:
    _, arn = await _task_in(svc, guard, instance_id, task_id)
    view = await svc.replication.cancel_task(instance_id, task_id, actor=guard.actor, resource=arn)
    return TaskOut.model_validate(view)


@route(
    router,
    "POST",
    "/replication-tasks/{task_id}/retry",
    actions.CREATE_REPO_SYNC_TASK,
    "Run a failed or cancelled task again (blobs already sent are not sent again)",
    errors=(409,),
    response_model=TaskOut,
)
async def retry_task(
    instance_id: InstanceId, task_id: TaskId, svc: Services, guard: Authz
) -> TaskOut:
    _, arn = await _task_in(svc, guard, instance_id, task_id)
    view = await svc.replication.retry_task(instance_id, task_id, actor=guard.actor, resource=arn)
    return TaskOut.model_validate(view)


@route(
    router,
    "POST",
    "/replication-rules",
    actions.CREATE_REPO_SYNC_RULE,
    "Create a rule: every matching push is replicated (Advanced)",
    errors=(409,),
    status_code=201,
    response_model=RuleOut,
)
async def create_rule(
    instance_id: InstanceId, body: RuleCreate, svc: Services, guard: Authz
) -> RuleOut:
    check_source(body.level, body.source)
    arn = await require_in(svc, guard, instance_id, rule_arn, body.level, body.source)
    await svc.replication.require_push_at(
        instance_id,
        body.to,
        rule_target(body.level, body.source),
        allows=guard.allows,
        actor=guard.actor,
    )
    spec = RuleSpec(body.name, body.to, body.level, body.source, body.tags)
    view = await svc.replication_rules.create(instance_id, spec, actor=guard.actor, resource=arn)
    return RuleOut.model_validate(view)


@route(
    router,
    "GET",
    "/replication-rules",
    actions.LIST_REPO_SYNC_RULE,
    "List the instance's replication rules",
    response_model=Page[RuleOut],
)
async def list_rules(
    instance_id: InstanceId, paging: Paging, svc: Services, guard: Authz
) -> Page[RuleOut]:
    await require_in(svc, guard, instance_id, actions.repository_list_arn, None)
    page = await svc.replication_rules.list_rules(instance_id, paging)
    return Page[RuleOut].model_validate(page)


async def _rule_in(
    svc: Services, guard: Guard, instance_id: str, name: str
) -> tuple[RuleView, str]:
    """The rule, once the route's action is allowed on its source (an unknown rule: on
    every repository of the instance, then 404)."""
    view = await svc.replication_rules.find(instance_id, name)
    if view is None:
        await require_in(svc, guard, instance_id, actions.repository_list_arn, None)
        raise NotFoundError(f"replication rule {name} does not exist")
    return view, await require_in(svc, guard, instance_id, rule_arn, view.level, view.source)


@route(
    router,
    "PATCH",
    "/replication-rules/{name}",
    actions.UPDATE_REPO_SYNC_RULE,
    "Enable or disable a replication rule",
    response_model=RuleOut,
)
async def update_rule(
    instance_id: InstanceId, name: RuleName, body: RuleUpdate, svc: Services, guard: Authz
) -> RuleOut:
    _, arn = await _rule_in(svc, guard, instance_id, name)
    view = await svc.replication_rules.set_enabled(
        instance_id, name, body.enabled, actor=guard.actor, resource=arn
    )
    return RuleOut.model_validate(view)


@route(
    router,
    "DELETE",
    "/replication-rules/{name}",
    actions.DELETE_REPO_SYNC_RULE,
    "Delete a replication rule (its tasks' records stay)",
    status_code=204,
)
async def delete_rule(instance_id: InstanceId, name: RuleName, svc: Services, guard: Authz) -> None:
    _, arn = await _rule_in(svc, guard, instance_id, name)
    await svc.replication_rules.delete(instance_id, name, actor=guard.actor, resource=arn)
