"""User groups: members, roles (members get their permissions)."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._identity import Aggregate, Narrow
from dockyard.api.schemas.identity import GroupCreate, GroupOut, GroupUpdate
from dockyard.services.identity import Caller, GroupService, GroupView

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])
groups = Aggregate(
    router, lambda svc: svc.identity.groups, GroupOut, kind="group", key="group_name"
)


async def _create(service: GroupService, who: Caller, body: GroupCreate) -> GroupView:
    return await service.create_group(who, body.name, body.organization_id, body.description)


async def _update(
    service: GroupService, who: Caller, group_name: str, body: GroupUpdate, if_match: str | None
) -> GroupView:
    return await service.update_group(
        who,
        group_name,
        new_name=body.name,
        description=body.description,
        organization_id=body.organization_id,
        if_match=if_match,
    )


groups.create(
    GroupCreate,
    _create,
    name="create_group",
    summary="Create a user group in an organization",
    action=actions.CREATE_GROUP,
)


groups.list(
    GroupService.list_groups,
    name="list_groups",
    summary="List user groups",
    action=actions.LIST_GROUPS,
    narrow=Narrow("organizationId", "Only its groups"),
)


groups.get(
    GroupService.get_group, name="get_group", summary="Get a user group", action=actions.GET_GROUP
)


groups.update(
    GroupUpdate,
    _update,
    name="update_group",
    summary="Rename, describe or move a user group",
    action=actions.UPDATE_GROUP,
)
groups.delete(
    GroupService.delete_group,
    name="delete_group",
    summary="Delete a user group with its memberships, roles and resource-set links",
    action=actions.DELETE_GROUP,
)
groups.link(
    "PUT",
    "members/{username}",
    GroupService.add_group_member,
    name="add_member",
    summary="Add a user to the group",
    action=actions.ADD_USER_TO_GROUP,
)
groups.link(
    "DELETE",
    "members/{username}",
    GroupService.remove_group_member,
    name="remove_member",
    summary="Remove a user from the group",
    action=actions.REMOVE_USER_FROM_GROUP,
    errors=(409,),
)
groups.link(
    "PUT",
    "roles/{role_name}",
    GroupService.attach_role_to_group,
    name="attach_role",
    summary="Grant a role to the group (its sharing scope decides who may)",
    action=actions.ATTACH_ROLE_TO_GROUP,
)
groups.link(
    "DELETE",
    "roles/{role_name}",
    GroupService.detach_role_from_group,
    name="detach_role",
    summary="Revoke a role from the group",
    action=actions.DETACH_ROLE_FROM_GROUP,
    errors=(409,),
)
