"""What identity takes from the other service domains, in one place: when one of them
moves, this is the only import line of the package that changes."""

from dockyard.services.access import Principal, Resource, authorize
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.credentials import ACCESS_KEY_ID_RE, STS_PREFIX, TEMP_USERNAME, hash_password
from dockyard.services.logon import validate_logon_policy
from dockyard.services.principals import load_principal, ram_arn
from dockyard.services.secrets import MasterKey

# One rule for initial, changed and reset console passwords (the sign-in service's).
from dockyard.services.signin import check_password_complexity
from dockyard.services.tenancy import Page, PageRequest, check_etag
from dockyard.services.tenancy import _etag as etag_of

__all__ = [
    "ACCESS_KEY_ID_RE",
    "STS_PREFIX",
    "TEMP_USERNAME",
    "Actor",
    "AuditLog",
    "MasterKey",
    "Page",
    "PageRequest",
    "Principal",
    "Resource",
    "authorize",
    "check_etag",
    "check_password_complexity",
    "etag_of",
    "hash_password",
    "load_principal",
    "ram_arn",
    "validate_logon_policy",
]
