"""Resource sets: namespaces and repositories grouped for user groups."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._identity import Aggregate
from dockyard.api.routers.params import InstanceId, NamespaceName, RepositoryName
from dockyard.api.schemas.identity import ResourceSetCreate, ResourceSetOut, ResourceSetUpdate
from dockyard.services.identity import Caller, ResourceSetService, ResourceSetView

router = APIRouter(prefix="/api/v1/resource-sets", tags=["resource sets"])
resource_sets = Aggregate(
    router,
    lambda svc: svc.identity.resource_sets,
    ResourceSetOut,
    kind="resourceset",
    key="set_name",
)
NAMESPACE = {"instance_id": InstanceId, "namespace": NamespaceName}
REPOSITORY = {**NAMESPACE, "repository": RepositoryName}


async def _create(
    service: ResourceSetService, who: Caller, body: ResourceSetCreate
) -> ResourceSetView:
    return await service.create_resource_set(who, body.name, body.description, body.organization_id)


async def _update(
    service: ResourceSetService,
    who: Caller,
    set_name: str,
    body: ResourceSetUpdate,
    if_match: str | None,
) -> ResourceSetView:
    return await service.update_resource_set(
        who,
        set_name,
        new_name=body.name,
        description=body.description,
        organization_id=body.organization_id,
        if_match=if_match,
    )


resource_sets.create(
    ResourceSetCreate,
    _create,
    name="create_resource_set",
    summary="Create a resource set",
    action=actions.CREATE_RESOURCE_SET,
)
resource_sets.list(
    ResourceSetService.list_resource_sets,
    name="list_resource_sets",
    summary="List resource sets",
    action=actions.LIST_RESOURCE_SETS,
)
resource_sets.get(
    ResourceSetService.get_resource_set,
    name="get_resource_set",
    summary="Get a resource set with its groups, namespaces and repositories",
    action=actions.GET_RESOURCE_SET,
)


resource_sets.update(
    ResourceSetUpdate,
    _update,
    name="update_resource_set",
    summary="Rename, describe or move a resource set",
    action=actions.UPDATE_RESOURCE_SET,
)
resource_sets.delete(
    ResourceSetService.delete_resource_set,
    name="delete_resource_set",
    summary="Delete a resource set (its namespaces and repositories stay, in no set)",
    action=actions.DELETE_RESOURCE_SET,
    errors=(),
)


resource_sets.link(
    "PUT",
    "groups/{group_name}",
    partial(ResourceSetService.link_group, link=True),
    name="link_group",
    summary="Link a user group: its roles then apply to the set's resources only",
    action=actions.LINK_RESOURCE_SET_TO_GROUP,
)
resource_sets.link(
    "DELETE",
    "groups/{group_name}",
    partial(ResourceSetService.link_group, link=False),
    name="unlink_group",
    summary="Unlink a user group",
    action=actions.UNLINK_RESOURCE_SET_FROM_GROUP,
)
resource_sets.link(
    "PUT",
    "namespaces/{instance_id}/{namespace}",
    partial(ResourceSetService.set_member, add=True),
    name="add_namespace",
    summary="Put a namespace (and everything in it) into the set",
    action=actions.ADD_RESOURCE_TO_RESOURCE_SET,
    errors=(409,),
    params=NAMESPACE,
)
resource_sets.link(
    "DELETE",
    "namespaces/{instance_id}/{namespace}",
    partial(ResourceSetService.set_member, add=False),
    name="remove_namespace",
    summary="Take a namespace out of the set",
    action=actions.REMOVE_RESOURCE_FROM_RESOURCE_SET,
    params=NAMESPACE,
)
resource_sets.link(
    "PUT",
    "repositories/{instance_id}/{namespace}/{repository}",
    partial(ResourceSetService.set_member, add=True),
    name="add_repository",
    summary="Put a repository into the set",
    action=actions.ADD_RESOURCE_TO_RESOURCE_SET,
    errors=(409,),
    params=REPOSITORY,
)
resource_sets.link(
    "DELETE",
    "repositories/{instance_id}/{namespace}/{repository}",
    partial(ResourceSetService.set_member, add=False),
    name="remove_repository",
    summary="Take a repository out of the set",
    action=actions.REMOVE_RESOURCE_FROM_RESOURCE_SET,
    params=REPOSITORY,
)
