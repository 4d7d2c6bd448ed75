"""Tag retention policies of an instance and their runs (PRODUCT.md §9, Advanced only).

A policy may reach repositories of several namespaces, so every operation is authorized
on the instance's ARN; a Standard instance answers 403 ``EDITION_REQUIRED``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from dockyard.api import actions
from dockyard.api.routers._routes import InInstance, route
from dockyard.api.routers.params import Paging
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
async def create_policy(target: InInstance, body: PolicyCreate) -> PolicyOut:
    retention = target.svc.retention
    spec = PolicySpec(
        body.name,
        body.keep_latest,
        body.namespace,
        body.repositories,
        body.keep_tags,
        body.schedule,
    )
    view = await retention.create(target.id, spec, actor=target.actor, resource=target.arn)
    return PolicyOut.model_validate(view)


@route(
    router,
    "GET",
    "",
    actions.LIST_RETENTION_POLICY,
    "List the instance's retention policies",
    response_model=Page[PolicyOut],
)
async def list_policies(target: InInstance, paging: Paging) -> Page[PolicyOut]:
    retention = target.svc.retention
    page = await retention.list_policies(target.id, paging)
    return Page[PolicyOut].model_validate(page)


@route(
    router,
    "GET",
    "/{name}",
    actions.GET_RETENTION_POLICY,
    "Get a retention policy",
    response_model=PolicyOut,
)
async def get_policy(target: InInstance, name: PolicyName) -> PolicyOut:
    retention = target.svc.retention
    return PolicyOut.model_validate(await retention.get(target.id, name))


@route(
    router,
    "PATCH",
    "/{name}",
    actions.UPDATE_RETENTION_POLICY,
    "Change a retention policy's keep-latest, keep-tags or schedule",
    response_model=PolicyOut,
)
async def update_policy(
    target: InInstance,
    name: PolicyName,
    body: PolicyUpdate,
) -> PolicyOut:
    retention = target.svc.retention
    changes = PolicyChanges(body.keep_latest, body.keep_tags, body.schedule)
    view = await retention.update(target.id, name, changes, actor=target.actor, resource=target.arn)
    return PolicyOut.model_validate(view)


@route(
    router,
    "DELETE",
    "/{name}",
    actions.DELETE_RETENTION_POLICY,
    "Delete a retention policy and the record of its runs",
    status_code=204,
)
async def delete_policy(target: InInstance, name: PolicyName) -> None:
    retention = target.svc.retention
    await retention.delete(target.id, name, actor=target.actor, resource=target.arn)


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
    target: InInstance,
    name: PolicyName,
    body: RunRequest,
) -> RunOut:
    retention = target.svc.retention
    if body.dry_run:
        view = await retention.dry_run(target.id, name)
    else:
        view = await retention.execute(target.id, name, actor=target.actor, resource=target.arn)
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
    target: InInstance,
    name: PolicyName,
    paging: Paging,
) -> Page[RunOut]:
    retention = target.svc.retention
    page = await retention.runs(target.id, name, paging)
    return Page[RunOut].model_validate(page)
