"""Console sign-in: a password (and an MFA code) for a session token; MFA device binding;
console password change and reset; sign-out (``services.signin``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Caller, Services
from dockyard.api.errors import responses
from dockyard.api.routers._routes import route
from dockyard.api.schemas.auth import (
    ChangePasswordRequest,
    MfaBindOut,
    MfaBindRequest,
    ResetPasswordRequest,
    SessionOut,
    SignInRefusal,
    SignInRequest,
)
from dockyard.authn import client_address
from dockyard.errors import InvalidInputError
from dockyard.services.access import Principal
from dockyard.services.signin import SessionGrant

router = APIRouter(prefix="/api/v1", tags=["auth"])

_REFUSALS: dict[int | str, dict[str, object]] = {
    403: {
        "model": SignInRefusal,
        "description": (
            "A structured refusal: ACCOUNT_LOCKED (lockedUntil, retryAfter, `Retry-After`), "
            "LOGON_POLICY_DENIED (logonPolicy), USER_DISABLED, PASSWORD_CHANGE_REQUIRED (sign "
            "in again with newPassword), MFA_BIND_REQUIRED (bindToken, bindTokenExpiresAt, "
            "secret, otpauthUri, digits, period), MFA_CODE_REQUIRED (mfaCodeRejected)"
        ),
    },
}


def _session(grant: SessionGrant) -> SessionOut:
    return SessionOut(token=grant.token, expires_in=grant.expires_in, expires_at=grant.expires_at)


def _user(principal: Principal) -> str:
    if principal.user_id is None or not principal.name:
        raise InvalidInputError("only a signed-in user has a console password and sessions")
    return principal.name


@router.post(
    "/auth/signin",
    response_model=SessionOut,
    summary="Sign in with a user name and console password (and an MFA code)",
    description=(
        "Checks the password, the lockout (5 consecutive failures lock the user for 15 "
        "minutes), the user's logon policy, a required password change and MFA, in this "
        "order; each refusal has its own code and fields."
    ),
    openapi_extra=actions.action(actions.SIGN_IN),
    responses={**responses(), **_REFUSALS},
)
async def sign_in(body: SignInRequest, request: Request, svc: Services) -> SessionOut:
    grant = await svc.signin.sign_in(
        body.username,
        body.password,
        source_ip=client_address(request),
        mfa_code=body.mfa_code,
        new_password=body.new_password,
    )
    return _session(grant)


@route(
    router,
    "POST",
    "/auth/mfa/bind",
    actions.BIND_MFA_DEVICE,
    "Bind the virtual MFA device offered by MFA_BIND_REQUIRED",
    response_model=MfaBindOut,
    description=(
        "With the bind token of the MFA_BIND_REQUIRED refusal and a current code of the "
        "device; then sign in again with `mfaCode`."
    ),
)
async def bind_mfa(body: MfaBindRequest, request: Request, svc: Services) -> MfaBindOut:
    bound = await svc.signin.bind_mfa(body.bind_token, body.code, source_ip=client_address(request))
    return MfaBindOut(username=bound.username, mfa_bound_at=bound.bound_at)


@route(
    router,
    "POST",
    "/auth/password",
    actions.CHANGE_PASSWORD,
    "Change your own console password",
    response_model=SessionOut,
    description=(
        "Every session of the user ends; the response is a new session. A wrong old password "
        "counts as a failed sign-in."
    ),
)
async def change_password(
    body: ChangePasswordRequest, request: Request, svc: Services, authz: Authz
) -> SessionOut:
    service = svc.signin
    username = _user(authz.principal)
    authz.require(f"acs:ram::{await service.account_arn_id()}:user/{username}")
    grant = await service.change_password(
        username, body.old_password, body.new_password, source_ip=client_address(request)
    )
    return _session(grant)


@route(
    router,
    "PUT",
    "/users/{username}/password",
    actions.RESET_PASSWORD,
    "Reset a user's console password (they must change it at the next sign-in)",
    status_code=204,
    description="Also ends the user's lockout and every session of the user.",
)
async def reset_password(
    username: str, body: ResetPasswordRequest, request: Request, svc: Services, authz: Authz
) -> Response:
    service = svc.signin
    authz.require(f"acs:ram::{await service.account_arn_id()}:user/{username}")
    await service.reset_password(
        username,
        body.password,
        actor=authz.principal.name or "anonymous",
        actor_id=authz.principal.user_id,
        source_ip=client_address(request),
    )
    return Response(status_code=204)


@route(
    router,
    "POST",
    "/auth/signout",
    actions.SIGN_OUT,
    "Sign out: every session of the caller ends",
    status_code=204,
)
async def sign_out(request: Request, svc: Services, caller: Caller) -> Response:
    await svc.signin.sign_out(_user(caller), source_ip=client_address(request))
    return Response(status_code=204)
