"""User groups: members, roles (members get their permissions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import Name, caller, require
from dockyard.api.routers.params import IfMatch, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import GroupCreate, GroupOut, GroupUpdate

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])


@router.post(
    "",
    status_code=201,
    response_model=GroupOut,
    summary="Create a user group in an organization",
    openapi_extra=actions.action(actions.CREATE_GROUP),
    responses=responses(409),
)
async def create_group(
    body: GroupCreate, response: Response, svc: Services, guard: Authz
) -> GroupOut:
    service = await require(svc.groups, guard, "*")
    view = await service.create_group(
        caller(guard), body.name, body.organization_id, body.description
    )
    set_etag(response, view.etag)
    return GroupOut.model_validate(view)


@router.get(
    "",
    response_model=Page[GroupOut],
    summary="List user groups",
    openapi_extra=actions.action(actions.LIST_GROUPS),
    responses=responses(),
)
async def list_groups(
    paging: Paging,
    svc: Services,
    guard: Authz,
    organization_id: Annotated[
        str | None, Query(alias="organizationId", max_length=64, description="Only its groups")
    ] = None,
) -> Page[GroupOut]:
    service = await require(svc.groups, guard, "*")
    return Page[GroupOut].model_validate(await service.list_groups(paging, organization_id))


@router.get(
    "/{group_name}",
    response_model=GroupOut,
    summary="Get a user group",
    openapi_extra=actions.action(actions.GET_GROUP),
    responses=responses(),
)
async def get_group(group_name: Name, response: Response, svc: Services, guard: Authz) -> GroupOut:
    service = await require(svc.groups, guard, f"group/{group_name}")
    view = await service.get_group(group_name)
    set_etag(response, view.etag)
    return GroupOut.model_validate(view)


@router.patch(
    "/{group_name}",
    response_model=GroupOut,
    summary="Rename, describe or move a user group",
    openapi_extra=actions.action(actions.UPDATE_GROUP),
    responses=responses(409, 412),
)
async def update_group(
    group_name: Name,
    body: GroupUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> GroupOut:
    service = await require(svc.groups, guard, f"group/{group_name}")
    view = await service.update_group(
        caller(guard),
        group_name,
        new_name=body.name,
        description=body.description,
        organization_id=body.organization_id,
        if_match=if_match,
    )
    set_etag(response, view.etag)
    return GroupOut.model_validate(view)


@router.delete(
    "/{group_name}",
    status_code=204,
    summary="Delete a user group with its memberships, roles and resource-set links",
    openapi_extra=actions.action(actions.DELETE_GROUP),
    responses=responses(409),
)
async def delete_group(group_name: Name, svc: Services, guard: Authz) -> None:
    service = await require(svc.groups, guard, f"group/{group_name}")
    await service.delete_group(caller(guard), group_name)


@router.put(
    "/{group_name}/members/{username}",
    response_model=GroupOut,
    summary="Add a user to the group",
    openapi_extra=actions.action(actions.ADD_USER_TO_GROUP),
    responses=responses(),
)
async def add_member(group_name: Name, username: Name, svc: Services, guard: Authz) -> GroupOut:
    service = await require(svc.groups, guard, f"group/{group_name}")
    return GroupOut.model_validate(
        await service.add_group_member(caller(guard), group_name, username)
    )


@router.delete(
    "/{group_name}/members/{username}",
    response_model=GroupOut,
    summary="Remove a user from the group",
    openapi_extra=actions.action(actions.REMOVE_USER_FROM_GROUP),
    responses=responses(409),
)
async def remove_member(group_name: Name, username: Name, svc: Services, guard: Authz) -> GroupOut:
    service = await require(svc.groups, guard, f"group/{group_name}")
    return GroupOut.model_validate(
        await service.remove_group_member(caller(guard), group_name, username)
    )


@router.put(
    "/{group_name}/roles/{role_name}",
    response_model=GroupOut,
    summary="Grant a role to the group (its sharing scope decides who may)",
    openapi_extra=actions.action(actions.ATTACH_ROLE_TO_GROUP),
    responses=responses(),
)
async def attach_role(group_name: Name, role_name: Name, svc: Services, guard: Authz) -> GroupOut:
    service = await require(svc.groups, guard, f"group/{group_name}")
    return GroupOut.model_validate(
        await service.attach_role_to_group(caller(guard), group_name, role_name)
    )


@router.delete(
    "/{group_name}/roles/{role_name}",
    response_model=GroupOut,
    summary="Revoke a role from the group",
    openapi_extra=actions.action(actions.DETACH_ROLE_FROM_GROUP),
    responses=responses(409),
)
async def detach_role(group_name: Name, role_name: Name, svc: Services, guard: Authz) -> GroupOut:
    service = await require(svc.groups, guard, f"group/{group_name}")
    return GroupOut.model_validate(
        await service.detach_role_from_group(caller(guard), group_name, role_name)
    )
