"""Logon policies: UTC time windows and source CIDRs a user may sign in from."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import Name, caller, require
from dockyard.api.routers.params import IfMatch, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import LogonPolicyCreate, LogonPolicyOut, LogonPolicyUpdate

router = APIRouter(prefix="/api/v1/logon-policies", tags=["logon policies"])


@router.post(
    "",
    status_code=201,
    response_model=LogonPolicyOut,
    summary="Create a logon policy",
    openapi_extra=actions.action(actions.CREATE_LOGON_POLICY),
    responses=responses(409),
)
async def create_logon_policy(
    body: LogonPolicyCreate, response: Response, svc: Services, guard: Authz
) -> LogonPolicyOut:
    service = await require(svc.logon_policies, guard, "*")
    view = await service.create_logon_policy(
        caller(guard),
        body.name,
        description=body.description,
        time_windows=[w.model_dump() for w in body.time_windows],
        cidrs=body.cidrs,
    )
    set_etag(response, view.etag)
    return LogonPolicyOut.model_validate(view)


@router.get(
    "",
    response_model=Page[LogonPolicyOut],
    summary="List logon policies",
    openapi_extra=actions.action(actions.LIST_LOGON_POLICIES),
    responses=responses(),
)
async def list_logon_policies(paging: Paging, svc: Services, guard: Authz) -> Page[LogonPolicyOut]:
    service = await require(svc.logon_policies, guard, "*")
    return Page[LogonPolicyOut].model_validate(await service.list_logon_policies(paging))


@router.get(
    "/{name}",
    response_model=LogonPolicyOut,
    summary="Get a logon policy",
    openapi_extra=actions.action(actions.GET_LOGON_POLICY),
    responses=responses(),
)
async def get_logon_policy(
    name: Name, response: Response, svc: Services, guard: Authz
) -> LogonPolicyOut:
    service = await require(svc.logon_policies, guard, f"logonpolicy/{name}")
    view = await service.get_logon_policy(name)
    set_etag(response, view.etag)
    return LogonPolicyOut.model_validate(view)


@router.patch(
    "/{name}",
    response_model=LogonPolicyOut,
    summary="Update a logon policy",
    openapi_extra=actions.action(actions.UPDATE_LOGON_POLICY),
    responses=responses(412),
)
async def update_logon_policy(
    name: Name,
    body: LogonPolicyUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> LogonPolicyOut:
    service = await require(svc.logon_policies, guard, f"logonpolicy/{name}")
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
    set_etag(response, view.etag)
    return LogonPolicyOut.model_validate(view)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a logon policy (its users fall back to the default: any time, anywhere)",
    openapi_extra=actions.action(actions.DELETE_LOGON_POLICY),
    responses=responses(),
)
async def delete_logon_policy(name: Name, svc: Services, guard: Authz) -> None:
    service = await require(svc.logon_policies, guard, f"logonpolicy/{name}")
    await service.delete_logon_policy(caller(guard), name)
