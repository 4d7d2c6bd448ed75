"""Namespaces of an instance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import InNamespace, answer, require_in, route
from dockyard.api.routers.params import IfMatch, InstanceId, Paging
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.namespaces import NamespaceCreate, NamespaceOut, NamespaceUpdate
from dockyard.services.tenancy import NamespaceChanges, Placement

router = APIRouter(prefix="/api/v1/instances/{instance_id}/namespaces", tags=["namespaces"])


@route(
    router,
    "POST",
    "",
    actions.CREATE_NAMESPACE,
    "Create a namespace (counts against the edition's namespace limit)",
    errors=(409,),
    status_code=201,
    response_model=NamespaceOut,
)
async def create_namespace(
    instance_id: InstanceId, body: NamespaceCreate, response: Response, svc: Services, guard: Authz
) -> NamespaceOut:
    await require_in(svc, guard, instance_id, actions.namespace_create_arn, body.name)
    view = await svc.tenancy.create_namespace(
        instance_id,
        body.name,
        auto_create=body.auto_create,
        default_repository_type=body.default_repository_type,
        placement=Placement(body.organization_id, body.resource_set, body.region),
    )
    return answer(NamespaceOut, response, view)


@route(
    router, "GET", "", actions.LIST_NAMESPACE, "List namespaces", response_model=Page[NamespaceOut]
)
async def list_namespaces(
    instance_id: InstanceId, paging: Paging, svc: Services, guard: Authz
) -> Page[NamespaceOut]:
    await require_in(svc, guard, instance_id, actions.namespace_list_arn)
    return Page[NamespaceOut].model_validate(await svc.tenancy.list_namespaces(instance_id, paging))


@route(
    router,
    "GET",
    "/{namespace}",
    actions.GET_NAMESPACE,
    "Get a namespace",
    response_model=NamespaceOut,
)
async def get_namespace(target: InNamespace, response: Response) -> NamespaceOut:
    view = await target.svc.tenancy.get_namespace(target.instance_id, target.name)
    return answer(NamespaceOut, response, view)


@route(
    router,
    "PATCH",
    "/{namespace}",
    actions.UPDATE_NAMESPACE,
    "Update a namespace",
    errors=(412,),
    response_model=NamespaceOut,
)
async def update_namespace(
    target: InNamespace, body: NamespaceUpdate, response: Response, if_match: IfMatch = None
) -> NamespaceOut:
    changes = NamespaceChanges(
        auto_create=body.auto_create, default_repository_type=body.default_repository_type
    )
    view = await target.svc.tenancy.update_namespace(
        target.instance_id, target.name, changes, if_match
    )
    return answer(NamespaceOut, response, view)


@route(
    router,
    "DELETE",
    "/{namespace}",
    actions.DELETE_NAMESPACE,
    "Delete a namespace (refused while it holds repositories, unless force=true)",
    errors=(409,),
    status_code=204,
)
async def delete_namespace(
    target: InNamespace,
    force: Annotated[bool, Query(description="Delete its repositories too")] = False,
) -> None:
    await target.svc.tenancy.delete_namespace(
        target.instance_id, target.name, force=force, actor=target.actor, resource=target.arn
    )
