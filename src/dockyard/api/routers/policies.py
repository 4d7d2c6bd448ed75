"""Policies: JSON documents of Allow/Deny statements."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._identity import Aggregate, Name, caller
from dockyard.api.routers.params import IfMatch
from dockyard.api.schemas.identity import PolicyCreate, PolicyOut, PolicyUpdate
from dockyard.services.identity import PolicyService

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])
policies = Aggregate(router, lambda svc: svc.policies, PolicyOut, kind="policy", key="policy_name")


@policies.creates(
    summary="Create a policy (name at most 15 characters)", action=actions.CREATE_POLICY
)
async def create_policy(
    body: PolicyCreate, response: Response, svc: Services, guard: Authz
) -> PolicyOut:
    service = await policies.open(svc, guard)
    view = await service.create_policy(
        caller(guard),
        body.name,
        body.document,
        description=body.description,
        sharing_scope=body.sharing_scope,
    )
    return policies.respond(response, view)


policies.list(
    PolicyService.list_policies,
    name="list_policies",
    summary="List policies, built-in ones included",
    action=actions.LIST_POLICIES,
)
policies.get(
    PolicyService.get_policy, name="get_policy", summary="Get a policy", action=actions.GET_POLICY
)


@policies.updates(
    summary="Update a policy's document, description or sharing scope (not built-ins)",
    action=actions.UPDATE_POLICY,
)
async def update_policy(
    policy_name: Name,
    body: PolicyUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> PolicyOut:
    service = await policies.open(svc, guard, policy_name)
    view = await service.update_policy(
        caller(guard),
        policy_name,
        document=body.document,
        description=body.description,
        sharing_scope=body.sharing_scope,
        if_match=if_match,
    )
    return policies.respond(response, view)


policies.delete(
    PolicyService.delete_policy,
    name="delete_policy",
    summary="Delete a policy, detaching it from every role (not built-ins)",
    action=actions.DELETE_POLICY,
)
