"""Users: profile, organization, roles granted directly, MFA."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._identity import Aggregate, Name, Narrow, caller
from dockyard.api.routers._routes import route
from dockyard.api.schemas.identity import MfaSetting, UserCreateBody, UserOut, UserUpdate
from dockyard.services.identity import Caller, UserChanges, UserCreate, UserService, UserView

router = APIRouter(prefix="/api/v1/users", tags=["users"])
users = Aggregate(router, lambda svc: svc.identity.users, UserOut, kind="user", key="username")


async def _create(service: UserService, who: Caller, body: UserCreateBody) -> UserView:
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
    return await service.create_user(who, spec)


async def _update(
    service: UserService, who: Caller, username: str, body: UserUpdate, if_match: str | None
) -> UserView:
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
    return await service.update_user(who, username, changes, if_match)


users.create(
    UserCreateBody,
    _create,
    name="create_user",
    summary="Create a user in an organization, with an initial console password",
    action=actions.CREATE_USER,
)


users.list(
    UserService.list_users,
    name="list_users",
    summary="List users",
    action=actions.LIST_USERS,
    narrow=Narrow("organizationId", "Only its users"),
)


users.get(UserService.get_user, name="get_user", summary="Get a user", action=actions.GET_USER)


users.update(
    UserUpdate,
    _update,
    name="update_user",
    summary="Update a user's profile, organization, logon policy, or disable them",
    action=actions.UPDATE_USER,
)
users.delete(
    UserService.delete_user,
    name="delete_user",
    summary="Delete a user with their role grants, memberships and keys",
    action=actions.DELETE_USER,
)
users.link(
    "PUT",
    "roles/{role_name}",
    UserService.attach_role_to_user,
    name="attach_role",
    summary="Grant a role to a user directly (its sharing scope decides who may)",
    action=actions.ATTACH_ROLE_TO_USER,
)
users.link(
    "DELETE",
    "roles/{role_name}",
    UserService.detach_role_from_user,
    name="detach_role",
    summary="Revoke a role granted directly (the last administrator keeps Administrator)",
    action=actions.DETACH_ROLE_FROM_USER,
    errors=(409,),
)


@route(
    router,
    "PUT",
    "/{username}/mfa",
    actions.SET_USER_MFA,
    "Require MFA at sign-in, or not (disabling clears the bound device)",
    response_model=UserOut,
)
async def set_mfa(username: Name, body: MfaSetting, svc: Services, guard: Authz) -> UserOut:
    service = await users.open(svc, guard, username)
    return UserOut.model_validate(
        await service.set_user_mfa(caller(guard), username, body.required)
    )


users.link(
    "DELETE",
    "mfa/device",
    UserService.clear_user_mfa_device,
    name="clear_mfa_device",
    summary="Forget the user's bound MFA device (a new one is bound at the next sign-in)",
    action=actions.SET_USER_MFA,
)
