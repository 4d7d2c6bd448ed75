"""What every console page works with: the services, the signed-in visitor and the
resource names its actions are authorized on."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import DeniedError
from dockyard.services.access import InstanceRef, Principal, Resource, authorize
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.credentials import CredentialsService, CredentialVerifier, TokenService
from dockyard.services.identity import IdentityServices
from dockyard.services.signin import SignInService
from dockyard.services.signing import SigningService
from dockyard.services.tenancy import TenancyService
from dockyard.services.tenancy.editions import ADVANCED


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    tenancy: TenancyService
    content: ContentService
    tokens: TokenService
    verifier: CredentialVerifier
    audit: AuditLog
    signin: SignInService
    #: Registry passwords, temporary credentials and access keys (the credentials page).
    credentials: CredentialsService
    #: Organizations, users, groups, roles, policies (the identity pages).
    identity: IdentityServices
    #: The address clients pull from when an instance names no endpoint domain
    #: (``DOCKYARD_PUBLIC_URL``); else the address the browser used.
    public_url: str | None = None
    #: Image signatures, verified for the tag page's Signatures section; None: no section.
    signing: SigningService | None = None


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in user of one request, with the CSRF token of their session."""

    principal: Principal
    csrf: str
    source_ip: str

    @property
    def name(self) -> str:
        return self.principal.name or "anonymous"

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.principal.user_id, self.source_ip)

    def may(self, action: str, resource: str) -> bool:
        """Whether to offer the action at all (a no here is not audited: nothing was tried)."""
        return authorize(self.principal, action, Resource(resource)).allowed

    async def require(self, audit: AuditLog, action: str, resource: str) -> None:
        """Refuse, and audit the refusal, what the visitor may not do, as the API does."""
        if not self.may(action, resource):
            await audit.denied(self.actor, action, resource)
            raise DeniedError(f"{self.name} is not allowed {action} on {resource}")


# ---- resources: the API's table (api/actions.py), in the console's own words -------------


def _advanced(instance: InstanceRef) -> bool:
    return instance.edition == ADVANCED


def on_namespace(instance: InstanceRef, namespace: str, *, creating: bool = False) -> str:
    """A namespace; creating one on Standard is authorized on ``*``."""
    if creating and not _advanced(instance):
        return "*"
    return instance.arn(f"repository/{namespace}")


def on_repository(instance: InstanceRef, namespace: str, repository: str) -> str:
    return instance.arn(f"repository/{namespace}/{repository}")


def on_listing(instance: InstanceRef, namespace: str | None = None) -> str:
    """What listing namespaces (no namespace) or repositories is authorized on."""
    if not _advanced(instance):
        return "*"
    return instance.arn(f"repository/{namespace}/*" if namespace else "repository/*")
