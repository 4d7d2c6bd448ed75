"""Resource sets: namespaces and repositories grouped for user groups."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import ApiServices, Authz, Guard, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import Name, caller, require
from dockyard.api.routers.params import (
    IfMatch,
    InstanceId,
    NamespaceName,
    Paging,
    RepositoryName,
    set_etag,
)
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import ResourceSetCreate, ResourceSetOut, ResourceSetUpdate

router = APIRouter(prefix="/api/v1/resource-sets", tags=["resource sets"])


async def _link(
    svc: ApiServices, guard: Guard, set_name: str, group_name: str, *, link: bool
) -> ResourceSetOut:
    """The body of PUT (``link``) and DELETE on a set's group."""
    service = await require(svc.resource_sets, guard, f"resourceset/{set_name}")
    return ResourceSetOut.model_validate(
        await service.link_group(caller(guard), set_name, group_name, link=link)
    )


async def _member(
    svc: ApiServices,
    guard: Guard,
    set_name: str,
    instance_id: str,
    namespace: str,
    repository: str | None = None,
    *,
    add: bool,
) -> ResourceSetOut:
    """The body of PUT (``add``) and DELETE on a set's namespace or repository."""
    service = await require(svc.resource_sets, guard, f"resourceset/{set_name}")
    return ResourceSetOut.model_validate(
        await service.set_member(
            caller(guard), set_name, instance_id, namespace, repository, add=add
        )
    )


@router.post(
    "",
    status_code=201,
    response_model=ResourceSetOut,
    summary="Create a resource set",
    openapi_extra=actions.action(actions.CREATE_RESOURCE_SET),
    responses=responses(409),
)
async def create_resource_set(
    body: ResourceSetCreate, response: Response, svc: Services, guard: Authz
) -> ResourceSetOut:
    service = await require(svc.resource_sets, guard, "*")
    view = await service.create_resource_set(
        caller(guard), body.name, body.description, body.organization_id
    )
    set_etag(response, view.etag)
    return ResourceSetOut.model_validate(view)


@router.get(
    "",
    response_model=Page[ResourceSetOut],
    summary="List resource sets",
    openapi_extra=actions.action(actions.LIST_RESOURCE_SETS),
    responses=responses(),
)
async def list_resource_sets(paging: Paging, svc: Services, guard: Authz) -> Page[ResourceSetOut]:
    service = await require(svc.resource_sets, guard, "*")
    return Page[ResourceSetOut].model_validate(await service.list_resource_sets(paging))


@router.get(
    "/{set_name}",
    response_model=ResourceSetOut,
    summary="Get a resource set with its groups, namespaces and repositories",
    openapi_extra=actions.action(actions.GET_RESOURCE_SET),
    responses=responses(),
)
async def get_resource_set(
    set_name: Name, response: Response, svc: Services, guard: Authz
) -> ResourceSetOut:
    service = await require(svc.resource_sets, guard, f"resourceset/{set_name}")
    view = await service.get_resource_set(set_name)
    set_etag(response, view.etag)
    return ResourceSetOut.model_validate(view)


@router.patch(
    "/{set_name}",
    response_model=ResourceSetOut,
    summary="Rename, describe or move a resource set",
    openapi_extra=actions.action(actions.UPDATE_RESOURCE_SET),
    responses=responses(409, 412),
)
async def update_resource_set(
    set_name: Name,
    body: ResourceSetUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> ResourceSetOut:
    service = await require(svc.resource_sets, guard, f"resourceset/{set_name}")
    view = await service.update_resource_set(
        caller(guard),
        set_name,
        new_name=body.name,
        description=body.description,
        organization_id=body.organization_id,
        if_match=if_match,
    )
    set_etag(response, view.etag)
    return ResourceSetOut.model_validate(view)


@router.delete(
    "/{set_name}",
    status_code=204,
    summary="Delete a resource set (its namespaces and repositories stay, in no set)",
    openapi_extra=actions.action(actions.DELETE_RESOURCE_SET),
    responses=responses(),
)
async def delete_resource_set(set_name: Name, svc: Services, guard: Authz) -> None:
    service = await require(svc.resource_sets, guard, f"resourceset/{set_name}")
    await service.delete_resource_set(caller(guard), set_name)


@router.put(
    "/{set_name}/groups/{group_name}",
    response_model=ResourceSetOut,
    summary="Link a user group: its roles then apply to the set's resources only",
    openapi_extra=actions.action(actions.LINK_RESOURCE_SET_TO_GROUP),
    responses=responses(),
)
async def link_group(
    set_name: Name, group_name: Name, svc: Services, guard: Authz
) -> ResourceSetOut:
    return await _link(svc, guard, set_name, group_name, link=True)


@router.delete(
    "/{set_name}/groups/{group_name}",
    response_model=ResourceSetOut,
    summary="Unlink a user group",
    openapi_extra=actions.action(actions.UNLINK_RESOURCE_SET_FROM_GROUP),
    responses=responses(),
)
async def unlink_group(
    set_name: Name, group_name: Name, svc: Services, guard: Authz
) -> ResourceSetOut:
    return await _link(svc, guard, set_name, group_name, link=False)


@router.put(
    "/{set_name}/namespaces/{instance_id}/{namespace}",
    response_model=ResourceSetOut,
    summary="Put a namespace (and everything in it) into the set",
    openapi_extra=actions.action(actions.ADD_RESOURCE_TO_RESOURCE_SET),
    responses=responses(409),
)
async def add_namespace(
    set_name: Name,
    instance_id: InstanceId,
    namespace: NamespaceName,
    svc: Services,
    guard: Authz,
) -> ResourceSetOut:
    return await _member(svc, guard, set_name, instance_id, namespace, add=True)


@router.delete(
    "/{set_name}/namespaces/{instance_id}/{namespace}",
    response_model=ResourceSetOut,
    summary="Take a namespace out of the set",
    openapi_extra=actions.action(actions.REMOVE_RESOURCE_FROM_RESOURCE_SET),
    responses=responses(),
)
async def remove_namespace(
    set_name: Name,
    instance_id: InstanceId,
    namespace: NamespaceName,
    svc: Services,
    guard: Authz,
) -> ResourceSetOut:
    return await _member(svc, guard, set_name, instance_id, namespace, add=False)


@router.put(
    "/{set_name}/repositories/{instance_id}/{namespace}/{repository}",
    response_model=ResourceSetOut,
    summary="Put a repository into the set",
    openapi_extra=actions.action(actions.ADD_RESOURCE_TO_RESOURCE_SET),
    responses=responses(409),
)
async def add_repository(
    set_name: Name,
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    svc: Services,
    guard: Authz,
) -> ResourceSetOut:
    return await _member(svc, guard, set_name, instance_id, namespace, repository, add=True)


@router.delete(
    "/{set_name}/repositories/{instance_id}/{namespace}/{repository}",
    response_model=ResourceSetOut,
    summary="Take a repository out of the set",
    openapi_extra=actions.action(actions.REMOVE_RESOURCE_FROM_RESOURCE_SET),
    responses=responses(),
)
async def remove_repository(
    set_name: Name,
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    svc: Services,
    guard: Authz,
) -> ResourceSetOut:
    return await _member(svc, guard, set_name, instance_id, namespace, repository, add=False)
