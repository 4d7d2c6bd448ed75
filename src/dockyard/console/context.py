"""What every console page works with: the services, the signed-in visitor and the
resource names its actions are authorized on."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import DeniedError
from dockyard.services.access import Principal, Resource, authorize
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.credentials import CredentialsService, CredentialVerifier, TokenService
from dockyard.services.gc import GarbageCollector
from dockyard.services.identity import Caller, IdentityServices
from dockyard.services.jobs import JobsService
from dockyard.services.replication import ReplicationRules, ReplicationService
from dockyard.services.retention import RetentionService
from dockyard.services.scanning import ScanPolicyService, ScanService, VulnDbService
from dockyard.services.signin import SignInService
from dockyard.services.signing import SignaturePolicyService, SigningService
from dockyard.services.tenancy import TenancyService
from dockyard.services.triggers import TriggersService
from dockyard.services.usage import UsageService


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
    #: Webhook triggers and their log (a repository's trigger pages).
    triggers: TriggersService
    #: Tag retention policies and their runs (an instance's retention pages).
    retention: RetentionService
    #: Garbage collection runs (the deployment's GC page).
    gc: GarbageCollector
    #: Storage usage and namespace quotas (instance and namespace pages).
    usage: UsageService
    #: Replication tasks and remotes, and rules (an instance's replication pages).
    replication: ReplicationService
    replication_rules: ReplicationRules
    #: Image scans and namespaces' scan policies (the tag and namespace pages).
    scans: ScanService
    scan_policies: ScanPolicyService
    #: The address clients pull from when an instance names no endpoint domain
    #: (``DOCKYARD_PUBLIC_URL``); else the address the browser used.
    public_url: str | None = None
    #: Image signatures, verified for the tag page's Signatures section; None: no section.
    signing: SigningService | None = None
    #: The background job queue (the jobs page); None: no page.
    jobs: JobsService | None = None
    #: Signature policies of an instance (the signing pages).
    signature_policies: SignaturePolicyService | None = None
    #: The offline vulnerability database (its status page).
    vulndb: VulnDbService | None = None


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
    def caller(self) -> Caller:
        """Who changes identity objects, as the identity services check and audit it."""
        return Caller.of(self.principal, self.source_ip)

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
