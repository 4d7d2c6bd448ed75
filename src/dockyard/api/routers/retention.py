"""Tag retention policies of an instance and their runs (PRODUCT.md §9, Advanced only).

A policy may reach repositories of several namespaces, so every operation is authorized
on the instance's ARN; a Standard instance answers 403 ``EDITION_REQUIRED``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import require_in, route
from dockyard.api.routers.params import InstanceId, Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.retention import (
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    RunOut,
    RunRequest,
)
from dockyard.services.retention import PolicyChanges, PolicySpec

router = APIRouter(prefix="/api/v1/instances/{instance_id}/retention-policies", tags=["retention"])

PolicyName = Annotated[str, Path(max_length=64, description="The policy's name")]


@route(
    router,
    "POST",
    "",
    actions.CREATE_RETENTION_POLICY,
    "Create a tag retention policy (saving it deletes nothing)",
    errors=(409,),
    status_code=201,
    response_model=PolicyOut,
    description=(
        "Applies to every repository of `namespace`, or to the `repositories` named. "
        "An execution keeps the tags of the `keepLatest` most recently pushed manifests of "
        "each repository and the tags matching `keepTags`, and deletes the others."
    ),
)
async def create_policy(
    instance_id: InstanceId, body: PolicyCreate, svc: Services, guard: Authz
) -> PolicyOut:
    arn = await require_in(svc, guard, instance_id, actions.instance_arn)
    spec = PolicySpec(
        body.name,
        body.keep_latest,
        body.namespace,
        body.repositories,
        body.keep_tags,
        body.schedule,
    )
    view = await svc.retention.create(instance_id, spec, actor=guard.actor, resource=arn)
    return PolicyOut.model_validate(view)


@route(
    router,
    "GET",
    "",
    actions.LIST_RETENTION_POLICY,
    "List the instance's retention policies",
    response_model=Page[PolicyOut],
)
async def list_policies(
    instance_id: InstanceId, paging: Paging, svc: Services, guard: Authz
) -> Page[PolicyOut]:
    await require_in(svc, guard, instance_id, actions.instance_arn)
    page = await svc.retention.list_policies(instance_id, paging)
    return Page[PolicyOut].model_validate(page)


@route(
    router,
    "GET",
    "/{name}",
    actions.GET_RETENTION_POLICY,
    "Get a retention policy",
    response_model=PolicyOut,
)
async def get_policy(
    instance_id: InstanceId, name: PolicyName, svc: Services, guard: Authz
) -> PolicyOut:
    await require_in(svc, guard, instance_id, actions.instance_arn)
    return PolicyOut.model_validate(await svc.retention.get(instance_id, name))


@route(
    router,
    "PATCH",
    "/{name}",
    actions.UPDATE_RETENTION_POLICY,
    "Change a retention policy's keep-latest, keep-tags or schedule",
    response_model=PolicyOut,
)
async def update_policy(
    instance_id: InstanceId, name: PolicyName, body: PolicyUpdate, svc: Services, guard: Authz
) -> PolicyOut:
    arn = await require_in(svc, guard, instance_id, actions.instance_arn)
    changes = PolicyChanges(body.keep_latest, body.keep_tags, body.schedule)
    view = await svc.retention.update(instance_id, name, changes, actor=guard.actor, resource=arn)
    return PolicyOut.model_validate(view)


@route(
    router,
    "DELETE",
    "/{name}",
    actions.DELETE_RETENTION_POLICY,
    "Delete a retention policy and the record of its runs",
    status_code=204,
)
async def delete_policy(
    instance_id: InstanceId, name: PolicyName, svc: Services, guard: Authz
) -> None:
    arn = await require_in(svc, guard, instance_id, actions.instance_arn)
    await svc.retention.delete(instance_id, name, actor=guard.actor, resource=arn)


@route(
    router,
    "POST",
    "/{name}/runs",
    actions.EXECUTE_RETENTION_POLICY,
    "Execute a retention policy now, or dry-run it",
    response_model=RunOut,
    description=(
        'With `"dryRun": true` the answer lists exactly what an execution would delete now, '
        "and nothing is deleted or recorded. Otherwise the tags the policy does not retain "
        "are deleted, with their manifests when nothing else references them, and the run "
        "is recorded. Tags of immutable repositories other than `latest` are kept."
    ),
)
async def run_policy(
    instance_id: InstanceId, name: PolicyName, body: RunRequest, svc: Services, guard: Authz
) -> RunOut:
    arn = await require_in(svc, guard, instance_id, actions.instance_arn)
    if body.dry_run:
        view = await svc.retention.dry_run(instance_id, name)
    else:
        view = await svc.retention.execute(instance_id, name, actor=guard.actor, resource=arn)
    return RunOut.model_validate(view)


@route(
    router,
    "GET",
    "/{name}/runs",
    actions.LIST_RETENTION_RUN,
    "The policy's recorded runs, newest first",
    response_model=Page[RunOut],
)
async def list_runs(
    instance_id: InstanceId, name: PolicyName, paging: Paging, svc: Services, guard: Authz
) -> Page[RunOut]:
    await require_in(svc, guard, instance_id, actions.instance_arn)
    page = await svc.retention.runs(instance_id, name, paging)
    return Page[RunOut].model_validate(page)
