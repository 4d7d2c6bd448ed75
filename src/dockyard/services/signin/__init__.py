"""Console sign-in: passwords and lockout, MFA devices (TOTP), sessions, sign-out, password
change and reset; logon policies are evaluated by :mod:`dockyard.services.logon`."""

# Old import path of services/identity.py, until it is split (issue 13).
from dockyard.services.signin.errors import (
    AccountLockedError,
    LogonPolicyDeniedError,
    MfaBindRequiredError,
    MfaCodeRequiredError,
    PasswordChangeRequiredError,
    SignInRefusedError,
    UserDisabledError,
)
from dockyard.services.signin.service import (
    MFA_SEED_PURPOSE,
    MfaBinding,
    SessionGrant,
    SignInService,
)
from dockyard.services.signin.totp import matching_step, otpauth_uri, totp_step

__all__ = [
    "MFA_SEED_PURPOSE",
    "AccountLockedError",
    "LogonPolicyDeniedError",
    "MfaBindRequiredError",
    "MfaBinding",
    "MfaCodeRequiredError",
    "PasswordChangeRequiredError",
    "SessionGrant",
    "SignInRefusedError",
    "SignInService",
    "UserDisabledError",
    "matching_step",
    "otpauth_uri",
    "totp_step",
]
