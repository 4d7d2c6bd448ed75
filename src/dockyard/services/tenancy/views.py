"""Read models and change requests of instances, namespaces and repositories."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from dockyard.services.access import InstanceRef
from dockyard.services.paging import Tagged


@dataclass(frozen=True, slots=True)
class InstanceEdition:
    """An instance as the edition gate needs it (``editions.HasEdition``)."""

    id: str
    edition: str


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    id: uuid.UUID
    instance_id: str
    full_name: str
    public: bool
    immutable: bool
    #: The instance's edition, read with the repository: what a push may store depends on it.
    edition: str

    @property
    def instance(self) -> InstanceEdition:
        return InstanceEdition(self.instance_id, self.edition)


def ref_of_key(
    instance_id: str, full_name: str, id_: uuid.UUID, type_: str, mutability: str, edition: str
) -> RepositoryRef:
    """A RepositoryRef from the plain columns of ``tq.REPOSITORY_KEY`` (hot paths)."""
    return RepositoryRef(
        id_, instance_id, full_name, type_ == "public", mutability == "Immutable", edition
    )


# ---- views and requests -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    cidr: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    network_type: str
    domain: str
    enabled: bool = True
    allowlist: tuple[AllowlistEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class InstanceView(Tagged):
    id: str
    name: str
    region: str
    edition: str
    endpoints: tuple[Endpoint, ...]
    created_at: datetime
    updated_at: datetime

    tagged: ClassVar[str] = "id name region edition endpoints"


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One counted limit of an instance's edition and how much of it is used now.
    ``limit`` None: the edition sets none of that kind."""

    name: str
    limit: int | None
    used: int


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    instance_id: str
    edition: str
    limits: tuple[LimitUse, ...]


@dataclass(frozen=True, slots=True)
class InstanceChanges:
    name: str | None = None
    region: str | None = None
    edition: str | None = None
    endpoints: tuple[Endpoint, ...] | None = None


@dataclass(frozen=True, slots=True)
class NamespaceView(Tagged):
    instance_id: str
    name: str
    auto_create: bool
    default_repository_type: str
    repository_count: int
    organization_id: str | None
    resource_set: str | None
    region: str
    created_at: datetime
    updated_at: datetime

    tagged: ClassVar[str] = "instance_id name auto_create default_repository_type"


@dataclass(frozen=True, slots=True)
class NamespaceChanges:
    auto_create: bool | None = None
    default_repository_type: str | None = None


@dataclass(frozen=True, slots=True)
class RepositoryView(Tagged):
    id: str
    instance_id: str
    namespace: str
    name: str
    full_name: str
    type: str
    summary: str
    description: str
    tag_mutability: str
    organization_id: str | None
    resource_set: str | None
    region: str
    created_at: datetime
    updated_at: datetime

    tagged: ClassVar[str] = "id type summary description tag_mutability"


@dataclass(frozen=True, slots=True)
class RepositoryChanges:
    type: str | None = None
    summary: str | None = None
    description: str | None = None
    tag_mutability: str | None = None


@dataclass(frozen=True, slots=True)
class NonconformingNames:
    """Stored names outside the OCI grammar, as (instance id, name) pairs."""

    namespaces: tuple[tuple[str, str], ...]
    #: Full names (``<namespace>/<repository>``).
    repositories: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new namespace or repository is filed: organization (id), resource set (name)
    and region; each left out takes its default."""

    organization_id: str | None = None
    resource_set: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class HostRoute:
    """Where a ``Host`` leads: the instance, and the endpoint's allowlist (empty: open)."""

    instance: InstanceRef
    domain: str | None = None
    enabled: bool = True
    allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())

    def admits(self, address: str | None) -> bool:
        if not self.allowlist:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allowlist)


# ---- validation ---------------------------------------------------------------------------
