"""What every route receives: the services, the caller, and the guard of its action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from dockyard.api.actions import ACTION_KEY
from dockyard.authn import UNAUTHENTICATED_ADMIN, authenticate, client_address
from dockyard.errors import DeniedError
from dockyard.services.access import Principal, Resource, authorize
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.credentials import (
    Authenticated,
    CredentialsService,
    CredentialVerifier,
    TokenService,
)
from dockyard.services.gc import GarbageCollector
from dockyard.services.identity import IdentityServices
from dockyard.services.jobs import JobsService
from dockyard.services.replication import ReplicationRules, ReplicationService
from dockyard.services.retention import RetentionService
from dockyard.services.scanning import (
    ExternalScanners,
    ScanPolicyService,
    ScanService,
    VulnDbService,
)
from dockyard.services.signin import SignInService
from dockyard.services.signing import SignaturePolicyService, SigningService
from dockyard.services.tenancy import TenancyService
from dockyard.services.triggers import TriggersService
from dockyard.services.usage import UsageService


@dataclass(frozen=True, slots=True)
class ApiServices:
    tenancy: TenancyService
    content: ContentService
    tokens: TokenService
    verifier: CredentialVerifier
    audit: AuditLog
    #: Identity management, one service per aggregate.
    identity: IdentityServices
    #: Registry passwords, access keys, STS and temporary credentials.
    credentials: CredentialsService
    #: Console sign-in, MFA devices, console passwords, sign-out.
    signin: SignInService
    #: The background job queue (listing, retrying).
    jobs: JobsService
    #: Webhook triggers of repositories and their log.
    triggers: TriggersService
    #: Tag retention policies and their runs (Advanced edition).
    retention: RetentionService
    #: Storage usage and namespace quotas.
    usage: UsageService
    #: Online garbage collection and the record of its runs.
    gc: GarbageCollector
    #: The metadata service (notes, occurrences, public keys) and image verification.
    signing: SigningService
    #: Signature policies on pulls, and the admission answer.
    signature_policies: SignaturePolicyService
    #: Replication remotes and tasks.
    replication: ReplicationService
    #: Replication rules (Advanced edition).
    replication_rules: ReplicationRules
    #: The offline vulnerability database (deployment-wide).
    vulndb: VulnDbService
    #: Image scans (Advanced edition).
    scans: ScanService
    #: Per-namespace scan on push and pull gate (Advanced edition).
    scan_policies: ScanPolicyService
    auth_disabled: bool = False
    #: Harbor scanner adapters registered deployment-wide (image scanning).
    external_scanners: ExternalScanners | None = None


def services(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


Services = Annotated[ApiServices, Depends(services)]

# Declared for the OpenAPI document (and the docs page's Authorize button); the header is
# parsed below so that one error shape covers every failure.
_bearer = HTTPBearer(auto_error=False, description="A session token from /api/v1/auth/signin")
_basic = HTTPBasic(
    auto_error=False,
    description=(
        "User name and console password; or AccessKeyId:AccessKeySecret (ids start with AK); "
        "or STS-id:secret plus the header X-Dockyard-Security-Token (ids start with STS.)"
    ),
)


async def current_credential(
    request: Request,
    svc: Services,
    _bearer_creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _basic_creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> Authenticated:
    if svc.auth_disabled:
        return Authenticated(UNAUTHENTICATED_ADMIN, "session")
    found = getattr(request.state, "credential", None)
    if isinstance(found, Authenticated):
        return found
    authenticated = await authenticate(request, svc.tokens, svc.verifier, svc.audit)
    request.state.credential = authenticated
    return authenticated


Credential = Annotated[Authenticated, Depends(current_credential)]


async def current_principal(credential: Credential) -> Principal:
    return credential.principal


Caller = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True, slots=True)
class Guard:
    """Authorizes the route's own action (its ``x-dockyard-action``) on a resource."""

    principal: Principal
    action: str
    #: Where the request came from (audit rows of denials).
    source_ip: str = ""
    #: Resources refused in this request; ``guard`` audits them when the route ends.
    denials: list[str] = field(default_factory=list)

    def require(self, resource: str) -> None:
        if not authorize(self.principal, self.action, Resource(resource)).allowed:
            self.denials.append(resource)
            who = self.principal.name or "anonymous"
            raise DeniedError(f"{who} is not allowed {self.action} on {resource}")

    def allows(self, action: str, resource: str) -> bool:
        """Whether the caller may also do ``action`` on ``resource`` (what a route shows
        may depend on it); a no is not a denial, so it is not audited."""
        return authorize(self.principal, action, Resource(resource)).allowed

    @property
    def actor(self) -> Actor:
        """The caller, as audit rows of this request's changes name them."""
        return Actor(self.principal.name or "anonymous", self.principal.user_id, self.source_ip)


async def guard(request: Request, principal: Caller, svc: Services) -> AsyncIterator[Guard]:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    action = extra.get(ACTION_KEY)
    if not isinstance(action, str) or not action:
        raise RuntimeError(f"route {request.url.path} names no policy action")
    checked = Guard(principal, action, client_address(request) or "")
    try:
        yield checked
    finally:
        # Recorded before the 403 is sent (scope="function"), in its own transaction.
        for resource in checked.denials:
            await svc.audit.denied(checked.actor, action, resource)


Authz = Annotated[Guard, Depends(guard, scope="function")]
