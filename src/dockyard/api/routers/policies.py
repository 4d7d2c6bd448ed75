"""Policies: JSON documents of Allow/Deny statements."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import Name, caller, require
from dockyard.api.routers.params import IfMatch, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import PolicyCreate, PolicyOut, PolicyUpdate

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])


@router.post(
    "",
    status_code=201,
    response_model=PolicyOut,
    summary="Create a policy (name at most 15 characters)",
    openapi_extra=actions.action(actions.CREATE_POLICY),
    responses=responses(409),
)
async def create_policy(
    body: PolicyCreate, response: Response, svc: Services, guard: Authz
) -> PolicyOut:
    service = await require(svc.policies, guard, "*")
    view = await service.create_policy(
        caller(guard),
        body.name,
        body.document,
        description=body.description,
        sharing_scope=body.sharing_scope,
    )
    set_etag(response, view.etag)
    return PolicyOut.model_validate(view)


@router.get(
    "",
    response_model=Page[PolicyOut],
    summary="List policies, built-in ones included",
    openapi_extra=actions.action(actions.LIST_POLICIES),
    responses=responses(),
)
async def list_policies(paging: Paging, svc: Services, guard: Authz) -> Page[PolicyOut]:
    service = await require(svc.policies, guard, "*")
    return Page[PolicyOut].model_validate(await service.list_policies(paging))


@router.get(
    "/{policy_name}",
    response_model=PolicyOut,
    summary="Get a policy",
    openapi_extra=actions.action(actions.GET_POLICY),
    responses=responses(),
)
async def get_policy(
    policy_name: Name, response: Response, svc: Services, guard: Authz
) -> PolicyOut:
    service = await require(svc.policies, guard, f"policy/{policy_name}")
    view = await service.get_policy(policy_name)
    set_etag(response, view.etag)
    return PolicyOut.model_validate(view)


@router.patch(
    "/{policy_name}",
    response_model=PolicyOut,
    summary="Update a policy's document, description or sharing scope (not built-ins)",
    openapi_extra=actions.action(actions.UPDATE_POLICY),
    responses=responses(409, 412),
)
async def update_policy(
    policy_name: Name,
    body: PolicyUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> PolicyOut:
    service = await require(svc.policies, guard, f"policy/{policy_name}")
    view = await service.update_policy(
        caller(guard),
        policy_name,
        document=body.document,
        description=body.description,
        sharing_scope=body.sharing_scope,
        if_match=if_match,
    )
    set_etag(response, view.etag)
    return PolicyOut.model_validate(view)


@router.delete(
    "/{policy_name}",
    status_code=204,
    summary="Delete a policy, detaching it from every role (not built-ins)",
    openapi_extra=actions.action(actions.DELETE_POLICY),
    responses=responses(409),
)
async def delete_policy(policy_name: Name, svc: Services, guard: Authz) -> None:
    service = await require(svc.policies, guard, f"policy/{policy_name}")
    await service.delete_policy(caller(guard), policy_name)
