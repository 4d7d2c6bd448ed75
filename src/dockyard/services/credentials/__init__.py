"""Credentials: how callers prove who they are (``verification``), the tokens the registry
and the API sign (``tokens``), a user's own registry password, access keys, STS and
temporary credentials (``access_keys``), and the per-address brake on failures
(``ratelimit``)."""

from dockyard.services.credentials.access_keys import CredentialsService
from dockyard.services.credentials.ratelimit import AuthRateLimiter
from dockyard.services.credentials.rules import (
    ACCESS_KEY_ID_RE,
    MAX_ACCESS_KEYS,
    STS_DEFAULT_SECONDS,
    STS_MAX_SECONDS,
    STS_MIN_SECONDS,
    STS_PREFIX,
    TEMP_USERNAME,
)
from dockyard.services.credentials.tokens import (
    SIGNING_PURPOSE,
    AccessEntry,
    RefreshClaims,
    TokenClaims,
    TokenService,
    new_signing_key,
)
from dockyard.services.credentials.verification import CredentialVerifier, password_version
from dockyard.services.credentials.views import (
    AccessKeyView,
    Authenticated,
    Method,
    NewAccessKey,
    StsIssued,
    TemporaryCredentials,
)

# Old import path of services/identity.py, until it is split (issue 13).

__all__ = [
    "ACCESS_KEY_ID_RE",
    "MAX_ACCESS_KEYS",
    "SIGNING_PURPOSE",
    "STS_DEFAULT_SECONDS",
    "STS_MAX_SECONDS",
    "STS_MIN_SECONDS",
    "STS_PREFIX",
    "TEMP_USERNAME",
    "AccessEntry",
    "AccessKeyView",
    "AuthRateLimiter",
    "Authenticated",
    "CredentialVerifier",
    "CredentialsService",
    "Method",
    "NewAccessKey",
    "RefreshClaims",
    "StsIssued",
    "TemporaryCredentials",
    "TokenClaims",
    "TokenService",
    "new_signing_key",
    "password_version",
]
