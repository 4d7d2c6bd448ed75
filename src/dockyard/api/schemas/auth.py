"""Sign-in, MFA binding, console passwords and sign-out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel


class SignInRequest(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256, description="The console password")
    mfa_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="The current 6-digit code of the user's virtual MFA device",
    )
    new_password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description=(
            "Only after PASSWORD_CHANGE_REQUIRED: the new console password (10-32 characters, "
            "at least two of letters, digits and ! @ # $ %; not the current one)"
        ),
    )


class SessionOut(ApiModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="Seconds until the token expires")
    expires_at: datetime


class SignInRefusal(ApiModel):
    """A sign-in refusal: the one error body plus the fields of its code."""

    code: str = Field(
        description=(
            "ACCOUNT_LOCKED, LOGON_POLICY_DENIED, USER_DISABLED, PASSWORD_CHANGE_REQUIRED, "
            "MFA_BIND_REQUIRED or MFA_CODE_REQUIRED (403); UNAUTHORIZED (401)"
        )
    )
    message: str
    request_id: str
    locked_until: datetime | None = Field(
        default=None, description="ACCOUNT_LOCKED: when the lock ends (also `Retry-After`)"
    )
    retry_after: int | None = Field(default=None, description="ACCOUNT_LOCKED: seconds")
    logon_policy: str | None = Field(default=None, description="LOGON_POLICY_DENIED")
    bind_token: str | None = Field(
        default=None, description="MFA_BIND_REQUIRED: for POST /auth/mfa/bind (10 minutes)"
    )
    bind_token_expires_at: datetime | None = Field(default=None, description="MFA_BIND_REQUIRED")
    secret: str | None = Field(
        default=None, description="MFA_BIND_REQUIRED: the base32 TOTP seed for the MFA app"
    )
    otpauth_uri: str | None = Field(
        default=None, description="MFA_BIND_REQUIRED: `otpauth://totp/...` (a QR code's text)"
    )
    digits: int | None = Field(default=None, description="MFA_BIND_REQUIRED: 6")
    period: int | None = Field(default=None, description="MFA_BIND_REQUIRED: 30 (seconds)")
    mfa_code_rejected: bool | None = Field(
        default=None,
        description="MFA_CODE_REQUIRED: true when the code given was wrong, expired or used",
    )


class MfaBindRequest(RequestModel):
    bind_token: str = Field(min_length=1, max_length=2048)
    code: str = Field(min_length=1, max_length=16, description="A current 6-digit code")


class MfaBindOut(ApiModel):
    username: str
    mfa_bound_at: datetime


class ChangePasswordRequest(RequestModel):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(
        min_length=1,
        max_length=256,
        description="10-32 characters, at least two of letters, digits and ! @ # $ %",
    )


class ResetPasswordRequest(RequestModel):
    password: str = Field(
        min_length=1,
        max_length=256,
        description=(
            "The new console password (10-32 characters, at least two of letters, digits and "
            "! @ # $ %); the user must change it at the next sign-in"
        ),
    )
