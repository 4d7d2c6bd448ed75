"""What every registry handler receives: the services, the parsed request target and, for
routes on a repository, that repository as the route's prelude found and authorized it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request

from dockyard.oci.reference import RepositoryName
from dockyard.registry.auth import Caller, RegistryAuth
from dockyard.services.access import InstanceRef
from dockyard.services.content import ContentService, PullGate
from dockyard.services.scanning import ScanPolicyService
from dockyard.services.signing import SignaturePolicyService
from dockyard.services.tenancy import RepositoryRef, TenancyService


@dataclass(frozen=True, slots=True)
class RegistryServices:
    tenancy: TenancyService
    content: ContentService
    auth: RegistryAuth
    public_url: str | None
    #: Counts concurrently pulling clients; None: blob GETs are not counted.
    pulls: PullGate | None = None
    #: Signature policies gating manifest GET/HEAD; None: no gate.
    signatures: SignaturePolicyService | None = None
    #: Refuses pulls of images a namespace's scan policy blocks; None: no gate.
    scan_gate: ScanPolicyService | None = None


@dataclass(slots=True)
class Call:
    """One registry request, resolved as far as routing can."""

    request: Request
    services: RegistryServices
    instance: InstanceRef
    base_url: str
    params: dict[str, str]

    @property
    def head(self) -> bool:
        return self.request.method == "HEAD"

    def name(self) -> RepositoryName:
        return RepositoryName.parse(self.params["name"])

    async def authorize(
        self, action: str, name: RepositoryName, repo: RepositoryRef | None
    ) -> Caller:
        return await self.services.auth.require(
            self.request,
            self.base_url,
            self.instance,
            action,
            name,
            public=bool(repo and repo.public),
        )

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def body(self) -> AsyncIterator[bytes]:
        return self.request.stream()


@dataclass(frozen=True, slots=True)
class Target:
    """An existing repository the caller was authorized to act on."""

    name: RepositoryName
    caller: Caller
    repo: RepositoryRef


@dataclass(frozen=True, slots=True)
class PushTarget:
    """A repository the caller may push to, created by the push that first needs it."""

    name: RepositoryName
    caller: Caller
    #: None: the repository does not exist yet.
    repo: RepositoryRef | None
    tenancy: TenancyService
    instance_id: str

    async def ensure(self) -> RepositoryRef:
        if self.repo is not None:
            return self.repo
        return await self.tenancy.ensure_repository(self.instance_id, self.name)
