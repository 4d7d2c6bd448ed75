"""Every table, imported here so Alembic sees the whole schema."""

from dockyard.metadata.models.artifacts import (
    Blob,
    Manifest,
    ManifestReference,
    RepositoryBlob,
    Tag,
    Upload,
)
from dockyard.metadata.models.events import Job, OutboxEvent, PeriodicSchedule
from dockyard.metadata.models.gc import GcRun
from dockyard.metadata.models.identity import (
    AccessKey,
    AuditEvent,
    AuthFailure,
    GroupMember,
    GroupRole,
    LogonPolicy,
    Organization,
    Policy,
    ResourceSet,
    ResourceSetGroup,
    Role,
    RolePolicy,
    SigningKey,
    StsCredential,
    User,
    UserGroup,
    UserRole,
)
from dockyard.metadata.models.pulls import PullLease
from dockyard.metadata.models.replication import (
    ReplicationRemote,
    ReplicationRule,
    ReplicationTask,
    ReplicationTaskLayer,
)
from dockyard.metadata.models.retention import RetentionPolicy, RetentionRun
from dockyard.metadata.models.scanners import ExternalScanner
from dockyard.metadata.models.scans import ImageScan, ScanPolicy
from dockyard.metadata.models.signing import (
    MetadataNamespace,
    MetadataNote,
    MetadataOccurrence,
    MetadataPublicKey,
    SignaturePolicy,
)
from dockyard.metadata.models.tenancy import (
    Account,
    EndpointAclEntry,
    Instance,
    InstanceEndpoint,
    Namespace,
    Repository,
)
from dockyard.metadata.models.triggers import Trigger, TriggerDelivery
from dockyard.metadata.models.usage import NamespaceContent, NamespaceUsage
from dockyard.metadata.models.vulndb import VulnDbImport, VulnPackage, VulnRecord

__all__ = [
    "AccessKey",
    "Account",
    "AuditEvent",
    "AuthFailure",
    "Blob",
    "EndpointAclEntry",
    "ExternalScanner",
    "GcRun",
    "GroupMember",
    "GroupRole",
    "ImageScan",
    "Instance",
    "InstanceEndpoint",
    "Job",
    "LogonPolicy",
    "Manifest",
    "ManifestReference",
    "MetadataNamespace",
    "MetadataNote",
    "MetadataOccurrence",
    "MetadataPublicKey",
    "Namespace",
    "NamespaceContent",
    "NamespaceUsage",
    "Organization",
    "OutboxEvent",
    "PeriodicSchedule",
    "Policy",
    "PullLease",
    "ReplicationRemote",
    "ReplicationRule",
    "ReplicationTask",
    "ReplicationTaskLayer",
    "Repository",
    "RepositoryBlob",
    "ResourceSet",
    "ResourceSetGroup",
    "RetentionPolicy",
    "RetentionRun",
    "Role",
    "RolePolicy",
    "ScanPolicy",
    "SignaturePolicy",
    "SigningKey",
    "StsCredential",
    "Tag",
    "Trigger",
    "TriggerDelivery",
    "Upload",
    "User",
    "UserGroup",
    "UserRole",
    "VulnDbImport",
    "VulnPackage",
    "VulnRecord",
]
