"""What every route receives: the services, the caller, and the guard of its action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from dockyard.api.actions import ACTION_KEY
from dockyard.errors import AuthenticationError, DeniedError
from dockyard.policy import PolicyDocument
from dockyard.policy.engine import BUILTIN_POLICIES
from dockyard.services.access import Principal, Resource, authorize
from dockyard.services.content import ContentService
from dockyard.services.credentials import CredentialVerifier, TokenService
from dockyard.services.tenancy import TenancyService

#: With authentication disabled (``--insecure-no-auth``) every caller is this principal.
UNAUTHENTICATED_ADMIN = Principal(
    name="anonymous",
    user_id=None,
    policies=(
        PolicyDocument.parse("AdministratorAccess", BUILTIN_POLICIES["AdministratorAccess"]),
    ),
)


@dataclass(frozen=True, slots=True)
class ApiServices:
    tenancy: TenancyService
    content: ContentService
    tokens: TokenService
    verifier: CredentialVerifier
    auth_disabled: bool = False


def services(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


Services = Annotated[ApiServices, Depends(services)]

# Declared for the OpenAPI document (and the docs page's Authorize button); the header is
# parsed below so that one error shape covers every failure.
_bearer = HTTPBearer(auto_error=False, description="A session token from /api/v1/auth/signin")
_basic = HTTPBasic(auto_error=False, description="User name and console password, for scripts")


async def current_principal(
    request: Request,
    svc: Services,
    _bearer_creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _basic_creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> Principal:
    if svc.auth_disabled:
        return UNAUTHENTICATED_ADMIN
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationError("authentication required: a Bearer session token or Basic")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        username, user_id = svc.tokens.verify_session(value.strip())
        return await svc.verifier.principal_for_user_id(username, user_id)
    if scheme.lower() == "basic" and _basic_creds is not None:
        return await svc.verifier.verify_console(_basic_creds.username, _basic_creds.password)
    raise AuthenticationError(f"unsupported authorization scheme {scheme!r}")


Caller = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True, slots=True)
class Guard:
    """Authorizes the route's own action (its ``x-dockyard-action``) on a resource."""

    principal: Principal
    action: str

    def require(self, resource: str) -> None:
        if not authorize(self.principal, self.action, Resource(resource)).allowed:
            who = self.principal.name or "anonymous"
            raise DeniedError(f"{who} is not allowed {self.action} on {resource}")


async def guard(request: Request, principal: Caller) -> Guard:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    action = extra.get(ACTION_KEY)
    if not isinstance(action, str) or not action:
        raise RuntimeError(f"route {request.url.path} names no policy action")
    return Guard(principal, action)


Authz = Annotated[Guard, Depends(guard)]
