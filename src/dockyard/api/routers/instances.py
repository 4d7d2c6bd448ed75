"""Instances: create, list, get, update (name, region, edition, endpoints), delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import InInstance, answer, route
from dockyard.api.routers.params import IfMatch, InstanceId, Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.instances import EndpointIn, InstanceCreate, InstanceOut, InstanceUpdate
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


@route(
    router,
    "POST",
    "/instances",
    actions.CREATE_INSTANCE,
    "Create an instance",
    errors=(409,),
    status_code=201,
    response_model=InstanceOut,
)
async def create_instance(
    body: InstanceCreate, response: Response, svc: Services, guard: Authz
) -> InstanceOut:
    guard.require(actions.everything())
    view = await svc.tenancy.create_instance(
        body.name, body.region, body.edition, _endpoints(body.endpoints)
    )
    return answer(InstanceOut, response, view)


@route(
    router,
    "GET",
    "/instances",
    actions.LIST_INSTANCE,
    "List instances",
    response_model=Page[InstanceOut],
)
async def list_instances(paging: Paging, svc: Services, guard: Authz) -> Page[InstanceOut]:
    guard.require(actions.everything())
    return Page[InstanceOut].model_validate(await svc.tenancy.list_instances(paging))


@route(
    router,
    "GET",
    "/instances/{instance_id}",
    actions.GET_INSTANCE,
    "Get an instance",
    response_model=InstanceOut,
)
async def get_instance(
    instance_id: InstanceId, response: Response, svc: Services, guard: Authz
) -> InstanceOut:
    guard.require(actions.everything())
    return answer(InstanceOut, response, await svc.tenancy.get_instance(instance_id))


@route(
    router,
    "PATCH",
    "/instances/{instance_id}",
    actions.UPDATE_INSTANCE,
    "Update an instance (a downgrade is refused while it holds too much)",
    errors=(409, 412),
    response_model=InstanceOut,
)
async def update_instance(
    target: InInstance, body: InstanceUpdate, response: Response, if_match: IfMatch = None
) -> InstanceOut:
    changes = InstanceChanges(
        name=body.name,
        region=body.region,
        edition=body.edition,
        endpoints=_endpoints(body.endpoints) if body.endpoints is not None else None,
    )
    view = await target.svc.tenancy.update_instance(target.id, changes, if_match)
    return answer(InstanceOut, response, view)


@route(
    router,
    "DELETE",
    "/instances/{instance_id}",
    actions.DELETE_INSTANCE,
    "Delete an instance with its endpoints and contents (refused while it holds "
    "namespaces, unless force=true; the default instance is never deleted)",
    errors=(409,),
    status_code=204,
)
async def delete_instance(
    target: InInstance,
    force: Annotated[bool, Query(description="Delete its namespaces and repositories too")] = False,
) -> None:
    await target.svc.tenancy.delete_instance(
        target.id, force=force, actor=target.actor, resource=target.arn
    )
