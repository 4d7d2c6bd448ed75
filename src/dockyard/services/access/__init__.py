"""Access: who the caller is (principals), the account they belong to, and the one decision.

Every face passes an action and a resource name to :func:`authorize`; nothing else grants
access. A user's principal is loaded by :func:`load_principal`.
"""

from dockyard.services.access.accounts import AccountIds, AccountLookup, NoAccountError
from dockyard.services.access.decisions import (
    ANONYMOUS,
    DELETE_TAG,
    LIST_REPOSITORY,
    PUBLIC_REPOSITORY,
    PULL,
    PUSH,
    SCOPE_ACTIONS,
    InstanceRef,
    Principal,
    Resource,
    ScopedPolicies,
    authorize,
)
from dockyard.services.access.principals import (
    SELF_SERVICE,
    build_principal,
    load_principal,
    ram_arn,
    resource_patterns,
    self_service_policy,
)

__all__ = [
    "ANONYMOUS",
    "DELETE_TAG",
    "LIST_REPOSITORY",
    "PUBLIC_REPOSITORY",
    "PULL",
    "PUSH",
    "SCOPE_ACTIONS",
    "SELF_SERVICE",
    "AccountIds",
    "AccountLookup",
    "InstanceRef",
    "NoAccountError",
    "Principal",
    "Resource",
    "ScopedPolicies",
    "authorize",
    "build_principal",
    "load_principal",
    "ram_arn",
    "resource_patterns",
    "self_service_policy",
]
