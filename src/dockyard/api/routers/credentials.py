"""Credentials: the registry password, access keys, STS and temporary registry credentials.

A user manages their own credentials through the implicit ``SelfService`` policy; anyone
allowed the action on ``acs:ram::$account:user/$username`` manages another user's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from dockyard.api import actions
from dockyard.api.context import ApiServices, Authz, Credential, Guard, Services
from dockyard.api.routers._routes import route
from dockyard.api.schemas.credentials import (
    AccessKeyCreate,
    AccessKeyCreated,
    AccessKeyList,
    AccessKeyOut,
    AccessKeyUpdate,
    AuthorizationTokenOut,
    RegistryPasswordIn,
    StsOut,
    StsRequest,
)
from dockyard.authn import client_address
from dockyard.services.credentials import AccessKeyView, CredentialsService

router = APIRouter(prefix="/api/v1", tags=["credentials"])

Username = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
AccessKeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,40}$")]


async def _managing(username: str, svc: ApiServices, guard: Guard) -> CredentialsService:
    """The credentials service, once the route's action is allowed on this user."""
    guard.require(await svc.credentials.user_arn(username))
    return svc.credentials


def _out(key: AccessKeyView) -> AccessKeyOut:
    return AccessKeyOut(
        access_key_id=key.id,
        username=key.username,
        status="active" if key.status == "active" else "disabled",
        description=key.description,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
    )


@route(
    router,
    "PUT",
    "/users/{username}/registry-password",
    actions.SET_REGISTRY_PASSWORD,
    "Set or reset a user's registry password (docker login)",
    status_code=204,
)
async def set_registry_password(
    username: Username, body: RegistryPasswordIn, request: Request, svc: Services, guard: Authz
) -> Response:
    creds = await _managing(username, svc, guard)
    await creds.set_registry_password(
        guard.principal, username, body.password, body.confirm, address=client_address(request)
    )
    return Response(status_code=204)


@route(
    router,
    "POST",
    "/users/{username}/access-keys",
    actions.CREATE_ACCESS_KEY,
    "Create an access key (the secret is shown once)",
    errors=(409,),
    status_code=201,
    response_model=AccessKeyCreated,
)
async def create_access_key(
    username: Username,
    request: Request,
    svc: Services,
    guard: Authz,
    body: AccessKeyCreate | None = None,
) -> AccessKeyCreated:
    creds = await _managing(username, svc, guard)
    made = await creds.create_access_key(
        guard.principal,
        username,
        body.description if body else "",
        address=client_address(request),
    )
    return AccessKeyCreated(
        **_out(made.key).model_dump(by_alias=False), access_key_secret=made.secret
    )


@route(
    router,
    "GET",
    "/users/{username}/access-keys",
    actions.LIST_ACCESS_KEYS,
    "List a user's access keys (never their secrets)",
    response_model=AccessKeyList,
)
async def list_access_keys(username: Username, svc: Services, guard: Authz) -> AccessKeyList:
    creds = await _managing(username, svc, guard)
    return AccessKeyList(items=[_out(k) for k in await creds.list_access_keys(username)])


@route(
    router,
    "PATCH",
    "/users/{username}/access-keys/{access_key_id}",
    actions.UPDATE_ACCESS_KEY,
    "Enable or disable an access key",
    response_model=AccessKeyOut,
)
async def update_access_key(
    username: Username,
    access_key_id: AccessKeyId,
    body: AccessKeyUpdate,
    request: Request,
    svc: Services,
    guard: Authz,
) -> AccessKeyOut:
    creds = await _managing(username, svc, guard)
    key = await creds.update_access_key(
        guard.principal, username, access_key_id, body.status, address=client_address(request)
    )
    return _out(key)


@route(
    router,
    "DELETE",
    "/users/{username}/access-keys/{access_key_id}",
    actions.DELETE_ACCESS_KEY,
    "Delete an access key (and the STS credentials made with it)",
    status_code=204,
)
async def delete_access_key(
    username: Username, access_key_id: AccessKeyId, request: Request, svc: Services, guard: Authz
) -> Response:
    creds = await _managing(username, svc, guard)
    await creds.delete_access_key(
        guard.principal, username, access_key_id, address=client_address(request)
    )
    return Response(status_code=204)


@route(
    router,
    "POST",
    "/auth/sts",
    actions.GET_SESSION_TOKEN,
    "Temporary security credentials (call with an access key)",
    response_model=StsOut,
)
async def get_session_token(
    request: Request,
    svc: Services,
    guard: Authz,
    credential: Credential,
    body: StsRequest | None = None,
) -> StsOut:
    creds = svc.credentials
    guard.require(actions.everything())
    issued = await creds.issue_sts(
        credential, (body or StsRequest()).duration_seconds, address=client_address(request)
    )
    return StsOut(
        access_key_id=issued.access_key_id,
        access_key_secret=issued.access_key_secret,
        security_token=issued.security_token,
        expiration=issued.expiration,
    )


@route(
    router,
    "POST",
    "/auth/authorization-token",
    actions.GET_AUTHORIZATION_TOKEN,
    "Temporary registry credentials for docker login (1 hour, or the STS lifetime)",
    response_model=AuthorizationTokenOut,
)
async def get_authorization_token(
    request: Request, svc: Services, guard: Authz, credential: Credential
) -> AuthorizationTokenOut:
    creds = svc.credentials
    guard.require(actions.everything())
    temp = await creds.authorization_token(credential, address=client_address(request))
    return AuthorizationTokenOut(
        temp_username=temp.username,
        authorization_token=temp.password,
        expires_at=temp.expires_at,
    )
