"""Namespaces of an instance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers.params import IfMatch, InstanceId, NamespaceName, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.namespaces import NamespaceCreate, NamespaceOut, NamespaceUpdate
from dockyard.services.tenancy import NamespaceChanges, Placement

router = APIRouter(prefix="/api/v1/instances/{instance_id}/namespaces", tags=["namespaces"])


@router.post(
    "",
    status_code=201,
    response_model=NamespaceOut,
    summary="Create a namespace (counts against the edition's namespace limit)",
    openapi_extra=actions.action(actions.CREATE_NAMESPACE),
    responses=responses(409),
)
async def create_namespace(
    instance_id: InstanceId,
    body: NamespaceCreate,
    response: Response,
    svc: Services,
    guard: Authz,
) -> NamespaceOut:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.namespace_create_arn(instance, body.name))
    view = await svc.tenancy.create_namespace(
        instance_id,
        body.name,
        auto_create=body.auto_create,
        default_repository_type=body.default_repository_type,
        placement=Placement(body.organization_id, body.resource_set, body.region),
    )
    set_etag(response, view.etag)
    return NamespaceOut.model_validate(view)


@router.get(
    "",
    response_model=Page[NamespaceOut],
    summary="List namespaces",
    openapi_extra=actions.action(actions.LIST_NAMESPACE),
    responses=responses(),
)
async def list_namespaces(
    instance_id: InstanceId, paging: Paging, svc: Services, guard: Authz
) -> Page[NamespaceOut]:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.namespace_list_arn(instance))
    return Page[NamespaceOut].model_validate(await svc.tenancy.list_namespaces(instance_id, paging))


@router.get(
    "/{namespace}",
    response_model=NamespaceOut,
    summary="Get a namespace",
    openapi_extra=actions.action(actions.GET_NAMESPACE),
    responses=responses(),
)
async def get_namespace(
    instance_id: InstanceId,
    namespace: NamespaceName,
    response: Response,
    svc: Services,
    guard: Authz,
) -> NamespaceOut:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.namespace_arn(instance, namespace))
    view = await svc.tenancy.get_namespace(instance_id, namespace)
    set_etag(response, view.etag)
    return NamespaceOut.model_validate(view)


@router.patch(
    "/{namespace}",
    response_model=NamespaceOut,
    summary="Update a namespace",
    openapi_extra=actions.action(actions.UPDATE_NAMESPACE),
    responses=responses(412),
)
async def update_namespace(
    instance_id: InstanceId,
    namespace: NamespaceName,
    body: NamespaceUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> NamespaceOut:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.namespace_arn(instance, namespace))
    changes = NamespaceChanges(
        auto_create=body.auto_create, default_repository_type=body.default_repository_type
    )
    view = await svc.tenancy.update_namespace(instance_id, namespace, changes, if_match)
    set_etag(response, view.etag)
    return NamespaceOut.model_validate(view)


@router.delete(
    "/{namespace}",
    status_code=204,
    summary="Delete a namespace (refused while it holds repositories, unless force=true)",
    openapi_extra=actions.action(actions.DELETE_NAMESPACE),
    responses=responses(409),
)
async def delete_namespace(
    instance_id: InstanceId,
    namespace: NamespaceName,
    svc: Services,
    guard: Authz,
    force: Annotated[bool, Query(description="Delete its repositories too")] = False,
) -> None:
    instance = await svc.tenancy.instance_ref(instance_id)
    resource = actions.namespace_arn(instance, namespace)
    guard.require(resource)
    await svc.tenancy.delete_namespace(
        instance_id, namespace, force=force, actor=guard.actor, resource=resource
    )
