"""Tenancy: instances and their endpoints, namespaces, repositories, and editions' limits."""

from dockyard.services.tenancy.errors import (
    DowngradeRefusedError,
    InstanceNotEmptyError,
    InstanceNotFoundError,
    NamespaceNotEmptyError,
    NameUnknownError,
)
from dockyard.services.tenancy.service import TenancyService
from dockyard.services.tenancy.views import (
    AllowlistEntry,
    Endpoint,
    InstanceChanges,
    InstanceLimits,
    LimitUse,
    NamespaceChanges,
    NonconformingNames,
    Placement,
    RepositoryChanges,
    RepositoryRef,
    ref_of_key,
)

__all__ = [
    "AllowlistEntry",
    "DowngradeRefusedError",
    "Endpoint",
    "InstanceChanges",
    "InstanceLimits",
    "InstanceNotEmptyError",
    "InstanceNotFoundError",
    "LimitUse",
    "NameUnknownError",
    "NamespaceChanges",
    "NamespaceNotEmptyError",
    "NonconformingNames",
    "Placement",
    "RepositoryChanges",
    "RepositoryRef",
    "TenancyService",
    "ref_of_key",
]

# Old import paths of services/identity.py, until it is split (issue 13).
