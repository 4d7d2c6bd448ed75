"""Every table, imported here so Alembic sees the whole schema."""

from dockyard.metadata.models.artifacts import (
    Blob,
    Manifest,
    ManifestReference,
    RepositoryBlob,
    Tag,
    Upload,
)
from dockyard.metadata.models.events import Job, OutboxEvent
from dockyard.metadata.models.identity import (
    Organization,
    Policy,
    Role,
    RolePolicy,
    SigningKey,
    User,
    UserRole,
)
from dockyard.metadata.models.pulls import PullLease
from dockyard.metadata.models.tenancy import (
    Account,
    EndpointAclEntry,
    Instance,
    InstanceEndpoint,
    Namespace,
    Repository,
)

__all__ = [
    "Account",
    "Blob",
    "EndpointAclEntry",
    "Instance",
    "InstanceEndpoint",
    "Job",
    "Manifest",
    "ManifestReference",
    "Namespace",
    "Organization",
    "OutboxEvent",
    "Policy",
    "PullLease",
    "Repository",
    "RepositoryBlob",
    "Role",
    "RolePolicy",
    "SigningKey",
    "Tag",
    "Upload",
    "User",
    "UserRole",
]
