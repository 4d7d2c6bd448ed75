"""Repositories: per namespace and across an instance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import answer, require_in, route
from dockyard.api.routers.params import IfMatch, InstanceId, NamespaceName, Paging, RepositoryName
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.repositories import RepositoryCreate, RepositoryOut, RepositoryUpdate
from dockyard.services.tenancy import Placement, RepositoryChanges

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["repositories"])

NameSearch = Annotated[
    str | None, Query(max_length=100, description="Only repositories whose name contains this")
]


REPOSITORY = "/namespaces/{namespace}/repositories/{repository}"


@route(
    router,
    "GET",
    "/repositories",
    actions.LIST_REPOSITORY,
    "List the repositories of an instance",
    response_model=Page[RepositoryOut],
)
async def list_instance_repositories(
    instance_id: InstanceId, paging: Paging, svc: Services, guard: Authz, name: NameSearch = None
) -> Page[RepositoryOut]:
    await require_in(svc, guard, instance_id, actions.repository_list_arn, None)
    page = await svc.tenancy.list_repositories(instance_id, paging, name_contains=name)
    return Page[RepositoryOut].model_validate(page)


@route(
    router,
    "POST",
    "/namespaces/{namespace}/repositories",
    actions.CREATE_REPOSITORY,
    "Create a repository (counts against the edition's repository limits)",
    errors=(409,),
    status_code=201,
    response_model=RepositoryOut,
)
async def create_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    body: RepositoryCreate,
    response: Response,
    svc: Services,
    guard: Authz,
) -> RepositoryOut:
    await require_in(svc, guard, instance_id, actions.namespace_arn, namespace)
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
    return answer(RepositoryOut, response, view)


@route(
    router,
    "GET",
    "/namespaces/{namespace}/repositories",
    actions.LIST_REPOSITORY,
    "List the repositories of a namespace",
    response_model=Page[RepositoryOut],
)
async def list_repositories(
    instance_id: InstanceId,
    namespace: NamespaceName,
    paging: Paging,
    svc: Services,
    guard: Authz,
    name: NameSearch = None,
) -> Page[RepositoryOut]:
    await require_in(svc, guard, instance_id, actions.repository_list_arn, namespace)
    page = await svc.tenancy.list_repositories(
        instance_id, paging, namespace=namespace, name_contains=name
    )
    return Page[RepositoryOut].model_validate(page)


@route(
    router,
    "GET",
    REPOSITORY,
    actions.GET_REPOSITORY,
    "Get a repository",
    response_model=RepositoryOut,
)
async def get_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    response: Response,
    svc: Services,
    guard: Authz,
) -> RepositoryOut:
    await require_in(svc, guard, instance_id, actions.repository_arn, namespace, repository)
    view = await svc.tenancy.get_repository(instance_id, namespace, repository)
    return answer(RepositoryOut, response, view)


@route(
    router,
    "PATCH",
    REPOSITORY,
    actions.UPDATE_REPOSITORY,
    "Update a repository (Immutable needs the Advanced edition)",
    errors=(412,),
    response_model=RepositoryOut,
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
    await require_in(svc, guard, instance_id, actions.repository_arn, namespace, repository)
    changes = RepositoryChanges(
        type=body.type,
        summary=body.summary,
        description=body.description,
        tag_mutability=body.tag_mutability,
    )
    view = await svc.tenancy.update_repository(
        instance_id, namespace, repository, changes, if_match
    )
    return answer(RepositoryOut, response, view)


@route(
    router,
    "DELETE",
    REPOSITORY,
    actions.DELETE_REPOSITORY,
    "Delete a repository with its tags and manifests",
    status_code=204,
)
async def delete_repository(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    svc: Services,
    guard: Authz,
) -> None:
    resource = await require_in(
        svc, guard, instance_id, actions.repository_arn, namespace, repository
    )
    await svc.tenancy.delete_repository(
        instance_id, namespace, repository, actor=guard.actor, resource=resource
    )
