"""Instances: create, list, get, update (name, region, edition, endpoints), delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers.params import IfMatch, InstanceId, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.instances import EndpointIn, InstanceCreate, InstanceOut, InstanceUpdate
from dockyard.services.access import InstanceRef
from dockyard.services.tenancy import AllowlistEntry, Endpoint, InstanceChanges

router = APIRouter(prefix="/api/v1", tags=["instances"])


def _endpoints(items: list[EndpointIn]) -> tuple[Endpoint, ...]:
    return tuple(
        Endpoint(
            e.network_type,
            e.domain,
            e.enabled,
            tuple(AllowlistEntry(a.cidr, a.description) for a in e.allowlist),
        )
        for e in items
    )


@router.post(
    "/instances",
    status_code=201,
    response_model=InstanceOut,
    summary="Create an instance",
    openapi_extra=actions.action(actions.CREATE_INSTANCE),
    responses=responses(409),
)
async def create_instance(
    body: InstanceCreate, response: Response, svc: Services, guard: Authz
) -> InstanceOut:
    guard.require(actions.everything())
    view = await svc.tenancy.create_instance(
        body.name, body.region, body.edition, _endpoints(body.endpoints)
    )
    set_etag(response, view.etag)
    return InstanceOut.model_validate(view)


@router.get(
    "/instances",
    response_model=Page[InstanceOut],
    summary="List instances",
    openapi_extra=actions.action(actions.LIST_INSTANCE),
    responses=responses(),
)
async def list_instances(paging: Paging, svc: Services, guard: Authz) -> Page[InstanceOut]:
    guard.require(actions.everything())
    page = await svc.tenancy.list_instances(paging)
    return Page[InstanceOut].model_validate(page)


@router.get(
    "/instances/{instance_id}",
    response_model=InstanceOut,
    summary="Get an instance",
    openapi_extra=actions.action(actions.GET_INSTANCE),
    responses=responses(),
)
async def get_instance(
    instance_id: InstanceId, response: Response, svc: Services, guard: Authz
) -> InstanceOut:
    guard.require(actions.everything())
    view = await svc.tenancy.get_instance(instance_id)
    set_etag(response, view.etag)
    return InstanceOut.model_validate(view)


@router.patch(
    "/instances/{instance_id}",
    response_model=InstanceOut,
    summary="Update an instance (a downgrade is refused while it holds too much)",
    openapi_extra=actions.action(actions.UPDATE_INSTANCE),
    responses=responses(409, 412),
)
async def update_instance(
    instance_id: InstanceId,
    body: InstanceUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> InstanceOut:
    instance: InstanceRef = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.instance_arn(instance))
    changes = InstanceChanges(
        name=body.name,
        region=body.region,
        edition=body.edition,
        endpoints=_endpoints(body.endpoints) if body.endpoints is not None else None,
    )
    view = await svc.tenancy.update_instance(instance_id, changes, if_match)
    set_etag(response, view.etag)
    return InstanceOut.model_validate(view)


@router.delete(
    "/instances/{instance_id}",
    status_code=204,
    summary="Delete an instance with its endpoints and contents (refused while it holds "
    "namespaces, unless force=true; the default instance is never deleted)",
    openapi_extra=actions.action(actions.DELETE_INSTANCE),
    responses=responses(409),
)
async def delete_instance(
    instance_id: InstanceId,
    svc: Services,
    guard: Authz,
    force: Annotated[bool, Query(description="Delete its namespaces and repositories too")] = False,
) -> None:
    instance = await svc.tenancy.instance_ref(instance_id)
    resource = actions.instance_arn(instance)
    guard.require(resource)
    await svc.tenancy.delete_instance(
        instance_id, force=force, actor=guard.actor, resource=resource
    )
