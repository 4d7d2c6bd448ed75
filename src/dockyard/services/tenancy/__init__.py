"""Tenancy: instances and their endpoints, namespaces, repositories, and editions' limits."""

from dockyard.services.tenancy.errors import (
    DowngradeRefusedError,
    InstanceNotEmptyError,
    InstanceNotFoundError,
    NamespaceNotEmptyError,
    NamespaceNotFoundError,
    NameUnknownError,
    RepositoryNotFoundError,
)
from dockyard.services.tenancy.service import TenancyService
from dockyard.services.tenancy.views import (
    AllowlistEntry,
    Endpoint,
    HostRoute,
    InstanceChanges,
    InstanceView,
    NamespaceChanges,
    NamespaceView,
    NonconformingNames,
    Placement,
    RepositoryChanges,
    RepositoryRef,
    RepositoryView,
    ref_of_key,
)

__all__ = [
    "AllowlistEntry",
    "DowngradeRefusedError",
    "Endpoint",
    "HostRoute",
    "InstanceChanges",
    "InstanceNotEmptyError",
    "InstanceNotFoundError",
    "InstanceView",
    "NameUnknownError",
    "NamespaceChanges",
    "NamespaceNotEmptyError",
    "NamespaceNotFoundError",
    "NamespaceView",
    "NonconformingNames",
    "Placement",
    "RepositoryChanges",
    "RepositoryNotFoundError",
    "RepositoryRef",
    "RepositoryView",
    "TenancyService",
    "ref_of_key",
]

# Old import paths of services/identity.py, until it is split (issue 13).
