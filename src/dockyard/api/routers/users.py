"""Users: profile, organization, roles granted directly, MFA."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import Name, caller, require
from dockyard.api.routers.params import IfMatch, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import MfaSetting, UserCreateBody, UserOut, UserUpdate
from dockyard.services.identity import UserChanges, UserCreate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    summary="Create a user in an organization, with an initial console password",
    openapi_extra=actions.action(actions.CREATE_USER),
    responses=responses(409),
)
async def create_user(
    body: UserCreateBody, response: Response, svc: Services, guard: Authz
) -> UserOut:
    service = await require(svc.users, guard, "*")
    spec = UserCreate(
        username=body.username,
        display_name=body.display_name,
        organization_id=body.organization_id,
        email=body.email,
        phone=body.phone,
        password=body.password,
        landline=body.landline,
        notify_email=body.notify_email,
        chat_webhook_key=body.chat_webhook_key,
        logon_policy=body.logon_policy,
        roles=tuple(body.roles),
    )
    view = await service.create_user(caller(guard), spec)
    set_etag(response, view.etag)
    return UserOut.model_validate(view)


@router.get(
    "",
    response_model=Page[UserOut],
    summary="List users",
    openapi_extra=actions.action(actions.LIST_USERS),
    responses=responses(),
)
async def list_users(
    paging: Paging,
    svc: Services,
    guard: Authz,
    organization_id: Annotated[
        str | None, Query(alias="organizationId", max_length=64, description="Only its users")
    ] = None,
) -> Page[UserOut]:
    service = await require(svc.users, guard, "*")
    return Page[UserOut].model_validate(await service.list_users(paging, organization_id))


@router.get(
    "/{username}",
    response_model=UserOut,
    summary="Get a user",
    openapi_extra=actions.action(actions.GET_USER),
    responses=responses(),
)
async def get_user(username: Name, response: Response, svc: Services, guard: Authz) -> UserOut:
    service = await require(svc.users, guard, f"user/{username}")
    view = await service.get_user(username)
    set_etag(response, view.etag)
    return UserOut.model_validate(view)


@router.patch(
    "/{username}",
    response_model=UserOut,
    summary="Update a user's profile, organization, logon policy, or disable them",
    openapi_extra=actions.action(actions.UPDATE_USER),
    responses=responses(409, 412),
)
async def update_user(
    username: Name,
    body: UserUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> UserOut:
    service = await require(svc.users, guard, f"user/{username}")
    changes = UserChanges(
        display_name=body.display_name,
        organization_id=body.organization_id,
        email=body.email,
        phone=body.phone,
        landline=body.landline,
        notify_email=body.notify_email,
        chat_webhook_key=body.chat_webhook_key,
        logon_policy=body.logon_policy,
        disabled=body.disabled,
    )
    view = await service.update_user(caller(guard), username, changes, if_match)
    set_etag(response, view.etag)
    return UserOut.model_validate(view)


@router.delete(
    "/{username}",
    status_code=204,
    summary="Delete a user with their role grants, memberships and keys",
    openapi_extra=actions.action(actions.DELETE_USER),
    responses=responses(409),
)
async def delete_user(username: Name, svc: Services, guard: Authz) -> None:
    service = await require(svc.users, guard, f"user/{username}")
    await service.delete_user(caller(guard), username)


@router.put(
    "/{username}/roles/{role_name}",
    response_model=UserOut,
    summary="Grant a role to a user directly (its sharing scope decides who may)",
    openapi_extra=actions.action(actions.ATTACH_ROLE_TO_USER),
    responses=responses(),
)
async def attach_role(username: Name, role_name: Name, svc: Services, guard: Authz) -> UserOut:
    service = await require(svc.users, guard, f"user/{username}")
    return UserOut.model_validate(
        await service.attach_role_to_user(caller(guard), username, role_name)
    )


@router.delete(
    "/{username}/roles/{role_name}",
    response_model=UserOut,
    summary="Revoke a role granted directly (the last administrator keeps Administrator)",
    openapi_extra=actions.action(actions.DETACH_ROLE_FROM_USER),
    responses=responses(409),
)
async def detach_role(username: Name, role_name: Name, svc: Services, guard: Authz) -> UserOut:
    service = await require(svc.users, guard, f"user/{username}")
    return UserOut.model_validate(
        await service.detach_role_from_user(caller(guard), username, role_name)
    )


@router.put(
    "/{username}/mfa",
    response_model=UserOut,
    summary="Require MFA at sign-in, or not (disabling clears the bound device)",
    openapi_extra=actions.action(actions.SET_USER_MFA),
    responses=responses(),
)
async def set_mfa(username: Name, body: MfaSetting, svc: Services, guard: Authz) -> UserOut:
    service = await require(svc.users, guard, f"user/{username}")
    return UserOut.model_validate(
        await service.set_user_mfa(caller(guard), username, body.required)
    )


@router.delete(
    "/{username}/mfa/device",
    response_model=UserOut,
    summary="Forget the user's bound MFA device (a new one is bound at the next sign-in)",
    openapi_extra=actions.action(actions.SET_USER_MFA),
    responses=responses(),
)
async def clear_mfa_device(username: Name, svc: Services, guard: Authz) -> UserOut:
    service = await require(svc.users, guard, f"user/{username}")
    return UserOut.model_validate(await service.clear_user_mfa_device(caller(guard), username))
