"""What identity takes from the other service domains, in one place: when one of them
moves, this is the only import line of the package that changes."""

from dockyard.services.access import (
    AccountLookup,
    Principal,
    Resource,
    authorize,
    load_principal,
    ram_arn,
)
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.credentials import ACCESS_KEY_ID_RE, STS_PREFIX, TEMP_USERNAME
from dockyard.services.logon import validate_logon_policy
from dockyard.services.paging import Page, PageRequest, check_etag
from dockyard.services.paging import etag as etag_of

# One rule for initial, changed and reset console passwords.
from dockyard.services.passwords import check_password_complexity, hash_password
from dockyard.services.secrets import MasterKey

__all__ = [
    "ACCESS_KEY_ID_RE",
    "STS_PREFIX",
    "TEMP_USERNAME",
    "AccountLookup",
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
