"""Logon policies: UTC time windows and source CIDRs a user may sign in from."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._identity import Aggregate, Name, caller
from dockyard.api.routers.params import IfMatch
from dockyard.api.schemas.identity import LogonPolicyCreate, LogonPolicyOut, LogonPolicyUpdate
from dockyard.services.identity import LogonPolicyService

router = APIRouter(prefix="/api/v1/logon-policies", tags=["logon policies"])
logon_policies = Aggregate(
    router, lambda svc: svc.logon_policies, LogonPolicyOut, kind="logonpolicy", key="name"
)


@logon_policies.creates(summary="Create a logon policy", action=actions.CREATE_LOGON_POLICY)
async def create_logon_policy(
    body: LogonPolicyCreate, response: Response, svc: Services, guard: Authz
) -> LogonPolicyOut:
    service = await logon_policies.open(svc, guard)
    view = await service.create_logon_policy(
        caller(guard),
        body.name,
        description=body.description,
        time_windows=[w.model_dump() for w in body.time_windows],
        cidrs=body.cidrs,
    )
    return logon_policies.respond(response, view)


logon_policies.list(
    LogonPolicyService.list_logon_policies,
    name="list_logon_policies",
    summary="List logon policies",
    action=actions.LIST_LOGON_POLICIES,
)
logon_policies.get(
    LogonPolicyService.get_logon_policy,
    name="get_logon_policy",
    summary="Get a logon policy",
    action=actions.GET_LOGON_POLICY,
)


@logon_policies.updates(
    summary="Update a logon policy", action=actions.UPDATE_LOGON_POLICY, errors=(412,)
)
async def update_logon_policy(
    name: Name,
    body: LogonPolicyUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> LogonPolicyOut:
    service = await logon_policies.open(svc, guard, name)
    view = await service.update_logon_policy(
        caller(guard),
        name,
        description=body.description,
        time_windows=None
        if body.time_windows is None
        else [w.model_dump() for w in body.time_windows],
        cidrs=body.cidrs,
        if_match=if_match,
    )
    return logon_policies.respond(response, view)


logon_policies.delete(
    LogonPolicyService.delete_logon_policy,
    name="delete_logon_policy",
    summary="Delete a logon policy (its users fall back to the default: any time, anywhere)",
    action=actions.DELETE_LOGON_POLICY,
    errors=(),
)
