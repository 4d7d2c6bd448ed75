"""Roles: up to 5 policies each, at most 20 in total (built-in ones count)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import Name, caller, require
from dockyard.api.routers.params import IfMatch, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import RoleCreate, RoleOut, RoleUpdate

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])


@router.post(
    "",
    status_code=201,
    response_model=RoleOut,
    summary="Create a role (at most 20 roles in total)",
    openapi_extra=actions.action(actions.CREATE_ROLE),
    responses=responses(409),
)
async def create_role(body: RoleCreate, response: Response, svc: Services, guard: Authz) -> RoleOut:
    service = await require(svc.roles, guard, "*")
    view = await service.create_role(
        caller(guard),
        body.name,
        description=body.description,
        sharing_scope=body.sharing_scope,
        policies=body.policies,
    )
    set_etag(response, view.etag)
    return RoleOut.model_validate(view)


@router.get(
    "",
    response_model=Page[RoleOut],
    summary="List roles",
    openapi_extra=actions.action(actions.LIST_ROLES),
    responses=responses(),
)
async def list_roles(paging: Paging, svc: Services, guard: Authz) -> Page[RoleOut]:
    service = await require(svc.roles, guard, "*")
    return Page[RoleOut].model_validate(await service.list_roles(paging))


@router.get(
    "/{role_name}",
    response_model=RoleOut,
    summary="Get a role",
    openapi_extra=actions.action(actions.GET_ROLE),
    responses=responses(),
)
async def get_role(role_name: Name, response: Response, svc: Services, guard: Authz) -> RoleOut:
    service = await require(svc.roles, guard, f"role/{role_name}")
    view = await service.get_role(role_name)
    set_etag(response, view.etag)
    return RoleOut.model_validate(view)


@router.patch(
    "/{role_name}",
    response_model=RoleOut,
    summary="Update a role's description or sharing scope (built-in roles are fixed)",
    openapi_extra=actions.action(actions.UPDATE_ROLE),
    responses=responses(409, 412),
)
async def update_role(
    role_name: Name,
    body: RoleUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> RoleOut:
    service = await require(svc.roles, guard, f"role/{role_name}")
    view = await service.update_role(
        caller(guard),
        role_name,
        description=body.description,
        sharing_scope=body.sharing_scope,
        if_match=if_match,
    )
    set_etag(response, view.etag)
    return RoleOut.model_validate(view)


@router.delete(
    "/{role_name}",
    status_code=204,
    summary="Delete a role and its grants (built-in roles cannot be deleted)",
    openapi_extra=actions.action(actions.DELETE_ROLE),
    responses=responses(409),
)
async def delete_role(role_name: Name, svc: Services, guard: Authz) -> None:
    service = await require(svc.roles, guard, f"role/{role_name}")
    await service.delete_role(caller(guard), role_name)


@router.put(
    "/{role_name}/policies/{policy_name}",
    response_model=RoleOut,
    summary="Attach a policy (at most 5 per role; its sharing scope decides who may)",
    openapi_extra=actions.action(actions.ATTACH_POLICY_TO_ROLE),
    responses=responses(409),
)
async def attach_policy(role_name: Name, policy_name: Name, svc: Services, guard: Authz) -> RoleOut:
    service = await require(svc.roles, guard, f"role/{role_name}")
    return RoleOut.model_validate(
        await service.attach_policy(caller(guard), role_name, policy_name)
    )


@router.delete(
    "/{role_name}/policies/{policy_name}",
    response_model=RoleOut,
    summary="Detach a policy",
    openapi_extra=actions.action(actions.DETACH_POLICY_FROM_ROLE),
    responses=responses(409),
)
async def detach_policy(role_name: Name, policy_name: Name, svc: Services, guard: Authz) -> RoleOut:
    service = await require(svc.roles, guard, f"role/{role_name}")
    return RoleOut.model_validate(
        await service.detach_policy(caller(guard), role_name, policy_name)
    )
