"""Policies: JSON documents of Allow/Deny statements."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._identity import Aggregate
from dockyard.api.schemas.identity import PolicyCreate, PolicyOut, PolicyUpdate
from dockyard.services.identity import Caller, PolicyService, PolicyView

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])
policies = Aggregate(
    router, lambda svc: svc.identity.policies, PolicyOut, kind="policy", key="policy_name"
)


async def _create(service: PolicyService, who: Caller, body: PolicyCreate) -> PolicyView:
    return await service.create_policy(
        who,
        body.name,
        body.document,
        description=body.description,
        sharing_scope=body.sharing_scope,
    )


async def _update(
    service: PolicyService, who: Caller, policy_name: str, body: PolicyUpdate, if_match: str | None
) -> PolicyView:
    return await service.update_policy(
        who,
        policy_name,
        document=body.document,
        description=body.description,
        sharing_scope=body.sharing_scope,
        if_match=if_match,
    )


policies.create(
    PolicyCreate,
    _create,
    name="create_policy",
    summary="Create a policy (name at most 15 characters)",
    action=actions.CREATE_POLICY,
)
policies.list(
    PolicyService.list_policies,
    name="list_policies",
    summary="List policies, built-in ones included",
    action=actions.LIST_POLICIES,
)
policies.get(
    PolicyService.get_policy, name="get_policy", summary="Get a policy", action=actions.GET_POLICY
)


policies.update(
    PolicyUpdate,
    _update,
    name="update_policy",
    summary="Update a policy's document, description or sharing scope (not built-ins)",
    action=actions.UPDATE_POLICY,
)
policies.delete(
    PolicyService.delete_policy,
    name="delete_policy",
    summary="Delete a policy, detaching it from every role (not built-ins)",
    action=actions.DELETE_POLICY,
)
