"""Repositories: per namespace and across an instance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers.params import (
    IfMatch,
    InstanceId,
    NamespaceName,
    Paging,
    RepositoryName,
    set_etag,
)
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.repositories import RepositoryCreate, RepositoryOut, RepositoryUpdate
from dockyard.services.tenancy import Placement, RepositoryChanges

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["repositories"])

NameSearch = Annotated[
    str | None, Query(max_length=100, description="Only repositories whose name contains this")
]


@router.get(
    "/repositories",
    response_model=Page[RepositoryOut],
    summary="List the repositories of an instance",
    openapi_extra=actions.action(actions.LIST_REPOSITORY),
    responses=responses(),
)
async def list_instance_repositories(
    instance_id: InstanceId,
    paging: Paging,
    svc: Services,
    guard: Authz,
    name: NameSearch = None,
) -> Page[RepositoryOut]:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.repository_list_arn(instance, None))
    page = await svc.tenancy.list_repositories(instance_id, paging, name_contains=name)
    return Page[RepositoryOut].model_validate(page)


@router.post(
    "/namespaces/{namespace}/repositories",
    status_code=201,
    response_model=RepositoryOut,
    summary="Create a repository (counts against the edition's repository limits)",
    openapi_extra=actions.action(actions.CREATE_REPOSITORY),
    responses=responses(409),
)
async def create_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    body: RepositoryCreate,
    response: Response,
    svc: Services,
    guard: Authz,
) -> RepositoryOut:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.namespace_arn(instance, namespace))
    view = await svc.tenancy.create_repository(
        instance_id,
        namespace,
        body.name,
        repository_type=body.type,
        summary=body.summary,
        description=body.description,
        tag_mutability=body.tag_mutability,
        placement=Placement(body.organization_id, body.resource_set, body.region),
    )
    set_etag(response, view.etag)
    return RepositoryOut.model_validate(view)


@router.get(
    "/namespaces/{namespace}/repositories",
    response_model=Page[RepositoryOut],
    summary="List the repositories of a namespace",
    openapi_extra=actions.action(actions.LIST_REPOSITORY),
    responses=responses(),
)
async def list_repositories(
    instance_id: InstanceId,
    namespace: NamespaceName,
    paging: Paging,
    svc: Services,
    guard: Authz,
    name: NameSearch = None,
) -> Page[RepositoryOut]:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.repository_list_arn(instance, namespace))
    page = await svc.tenancy.list_repositories(
        instance_id, paging, namespace=namespace, name_contains=name
    )
    return Page[RepositoryOut].model_validate(page)


@router.get(
    "/namespaces/{namespace}/repositories/{repository}",
    response_model=RepositoryOut,
    summary="Get a repository",
    openapi_extra=actions.action(actions.GET_REPOSITORY),
    responses=responses(),
)
async def get_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    response: Response,
    svc: Services,
    guard: Authz,
) -> RepositoryOut:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.repository_arn(instance, namespace, repository))
    view = await svc.tenancy.get_repository(instance_id, namespace, repository)
    set_etag(response, view.etag)
    return RepositoryOut.model_validate(view)


@router.patch(
    "/namespaces/{namespace}/repositories/{repository}",
    response_model=RepositoryOut,
    summary="Update a repository (Immutable needs the Advanced edition)",
    openapi_extra=actions.action(actions.UPDATE_REPOSITORY),
    responses=responses(412),
)
async def update_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    body: RepositoryUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> RepositoryOut:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.repository_arn(instance, namespace, repository))
    changes = RepositoryChanges(
        type=body.type,
        summary=body.summary,
        description=body.description,
        tag_mutability=body.tag_mutability,
    )
    view = await svc.tenancy.update_repository(
        instance_id, namespace, repository, changes, if_match
    )
    set_etag(response, view.etag)
    return RepositoryOut.model_validate(view)


@router.delete(
    "/namespaces/{namespace}/repositories/{repository}",
    status_code=204,
    summary="Delete a repository with its tags and manifests",
    openapi_extra=actions.action(actions.DELETE_REPOSITORY),
    responses=responses(),
)
async def delete_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    svc: Services,
    guard: Authz,
) -> None:
    instance = await svc.tenancy.instance_ref(instance_id)
    resource = actions.repository_arn(instance, namespace, repository)
    guard.require(resource)
    await svc.tenancy.delete_repository(
        instance_id, namespace, repository, actor=guard.actor, resource=resource
    )
