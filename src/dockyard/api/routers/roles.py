"""Roles: up to 5 policies each, at most 20 in total (built-in ones count)."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._identity import Aggregate
from dockyard.api.schemas.identity import RoleCreate, RoleOut, RoleUpdate
from dockyard.services.identity import Caller, RoleService, RoleView

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])
roles = Aggregate(router, lambda svc: svc.identity.roles, RoleOut, kind="role", key="role_name")


async def _create(service: RoleService, who: Caller, body: RoleCreate) -> RoleView:
    return await service.create_role(
        who,
        body.name,
        description=body.description,
        sharing_scope=body.sharing_scope,
        policies=body.policies,
    )


async def _update(
    service: RoleService, who: Caller, role_name: str, body: RoleUpdate, if_match: str | None
) -> RoleView:
    return await service.update_role(
        who,
        role_name,
        description=body.description,
        sharing_scope=body.sharing_scope,
        if_match=if_match,
    )


roles.create(
    RoleCreate,
    _create,
    name="create_role",
    summary="Create a role (at most 20 roles in total)",
    action=actions.CREATE_ROLE,
)
roles.list(
    RoleService.list_roles, name="list_roles", summary="List roles", action=actions.LIST_ROLES
)
roles.get(RoleService.get_role, name="get_role", summary="Get a role", action=actions.GET_ROLE)


roles.update(
    RoleUpdate,
    _update,
    name="update_role",
    summary="Update a role's description or sharing scope (built-in roles are fixed)",
    action=actions.UPDATE_ROLE,
)
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
