"""Roles: up to 5 policies each, at most 20 in total (built-in ones count)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._identity import Aggregate, Name, caller
from dockyard.api.routers.params import IfMatch
from dockyard.api.schemas.identity import RoleCreate, RoleOut, RoleUpdate
from dockyard.services.identity import RoleService

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])
roles = Aggregate(router, lambda svc: svc.roles, RoleOut, kind="role", key="role_name")


@roles.creates(summary="Create a role (at most 20 roles in total)", action=actions.CREATE_ROLE)
async def create_role(body: RoleCreate, response: Response, svc: Services, guard: Authz) -> RoleOut:
    service = await roles.open(svc, guard)
    view = await service.create_role(
        caller(guard),
        body.name,
        description=body.description,
        sharing_scope=body.sharing_scope,
        policies=body.policies,
    )
    return roles.respond(response, view)


roles.list(
    RoleService.list_roles, name="list_roles", summary="List roles", action=actions.LIST_ROLES
)
roles.get(RoleService.get_role, name="get_role", summary="Get a role", action=actions.GET_ROLE)


@roles.updates(
    summary="Update a role's description or sharing scope (built-in roles are fixed)",
    action=actions.UPDATE_ROLE,
)
async def update_role(
    role_name: Name,
    body: RoleUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> RoleOut:
    service = await roles.open(svc, guard, role_name)
    view = await service.update_role(
        caller(guard),
        role_name,
        description=body.description,
        sharing_scope=body.sharing_scope,
        if_match=if_match,
    )
    return roles.respond(response, view)


roles.delete(
    RoleService.delete_role,
    name="delete_role",
    summary="Delete a role and its grants (built-in roles cannot be deleted)",
    action=actions.DELETE_ROLE,
)
roles.link(
    "PUT",
    "policies/{policy_name}",
    RoleService.attach_policy,
    name="attach_policy",
    summary="Attach a policy (at most 5 per role; its sharing scope decides who may)",
    action=actions.ATTACH_POLICY_TO_ROLE,
    errors=(409,),
)
roles.link(
    "DELETE",
    "policies/{policy_name}",
    RoleService.detach_policy,
    name="detach_policy",
    summary="Detach a policy",
    action=actions.DETACH_POLICY_FROM_ROLE,
    errors=(409,),
)
