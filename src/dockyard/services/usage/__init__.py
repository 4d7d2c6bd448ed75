"""Storage usage per repository, namespace and instance, its explanation, and quotas."""

from dockyard.services.usage.rules import QuotaExceededError, exact, human
from dockyard.services.usage.service import RULES, UsageService
from dockyard.services.usage.views import (
    Explanation,
    InstanceUsage,
    NamespaceDetail,
    NamespaceUsage,
    RepositoryUsage,
    SharedContent,
)

__all__ = [
    "RULES",
    "Explanation",
    "InstanceUsage",
    "NamespaceDetail",
    "NamespaceUsage",
    "QuotaExceededError",
    "RepositoryUsage",
    "SharedContent",
    "UsageService",
    "exact",
    "human",
]
