"""Logon policies: UTC time windows and source CIDRs a user may sign in from."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._identity import Aggregate
from dockyard.api.schemas.identity import LogonPolicyCreate, LogonPolicyOut, LogonPolicyUpdate
from dockyard.services.identity import Caller, LogonPolicyService, LogonPolicyView

router = APIRouter(prefix="/api/v1/logon-policies", tags=["logon policies"])
logon_policies = Aggregate(
    router, lambda svc: svc.identity.logon_policies, LogonPolicyOut, kind="logonpolicy", key="name"
)


async def _create(
    service: LogonPolicyService, who: Caller, body: LogonPolicyCreate
) -> LogonPolicyView:
    return await service.create_logon_policy(
        who,
        body.name,
        description=body.description,
        time_windows=[w.model_dump() for w in body.time_windows],
        cidrs=body.cidrs,
    )


async def _update(
    service: LogonPolicyService,
    who: Caller,
    name: str,
    body: LogonPolicyUpdate,
    if_match: str | None,
) -> LogonPolicyView:
    return await service.update_logon_policy(
        who,
        name,
        description=body.description,
        time_windows=None
        if body.time_windows is None
        else [w.model_dump() for w in body.time_windows],
        cidrs=body.cidrs,
        if_match=if_match,
    )


logon_policies.create(
    LogonPolicyCreate,
    _create,
    name="create_logon_policy",
    summary="Create a logon policy",
    action=actions.CREATE_LOGON_POLICY,
)
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


logon_policies.update(
    LogonPolicyUpdate,
    _update,
    name="update_logon_policy",
    summary="Update a logon policy",
    action=actions.UPDATE_LOGON_POLICY,
    errors=(412,),
)
logon_policies.delete(
    LogonPolicyService.delete_logon_policy,
    name="delete_logon_policy",
    summary="Delete a logon policy (its users fall back to the default: any time, anywhere)",
    action=actions.DELETE_LOGON_POLICY,
    errors=(),
)
