"""Why a sign-in is refused, each with the code the console acts on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockyard.errors import DeniedError


class SignInRefusedError(DeniedError):
    """A structured sign-in refusal: the API writes ``code`` and ``fields`` (camelCase)
    next to ``message`` in its one error body."""

    code = "SIGNIN_REFUSED"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, detail=fields)
        self.fields: dict[str, Any] = fields


class AccountLockedError(SignInRefusedError):
    """Too many consecutive failures: no sign-in until ``lockedUntil``."""

    code = "ACCOUNT_LOCKED"

    def __init__(self, message: str, *, locked_until: datetime, retry_after: int) -> None:
        super().__init__(message, lockedUntil=locked_until.isoformat(), retryAfter=retry_after)
        self.locked_until = locked_until
        self.retry_after = retry_after


class LogonPolicyDeniedError(SignInRefusedError):
    code = "LOGON_POLICY_DENIED"


class UserDisabledError(SignInRefusedError):
    code = "USER_DISABLED"


class PasswordChangeRequiredError(SignInRefusedError):
    """Sign in again with ``newPassword`` (the password is an initial or reset one)."""

    code = "PASSWORD_CHANGE_REQUIRED"


class MfaBindRequiredError(SignInRefusedError):
    """Bind a virtual MFA device: ``bindToken``, ``secret``, ``otpauthUri``."""

    code = "MFA_BIND_REQUIRED"


class MfaCodeRequiredError(SignInRefusedError):
    """Sign in again with ``mfaCode`` (``mfaCodeRejected``: the one given was not valid)."""

    code = "MFA_CODE_REQUIRED"
