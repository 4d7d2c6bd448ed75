"""What credentials answer: who proved what, and the credentials a user holds or is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dockyard.services.access import Principal

Method = Literal[
    "registry-password",
    "temporary",
    "console-password",
    "session",
    "refresh-token",
    "access-key",
    "sts",
]


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A principal and how it proved who it is (the API needs the how: STS is issued only
    to access keys, temporary credentials end with the STS credentials used)."""

    principal: Principal
    method: Method
    #: The access key or STS id the caller used.
    credential_id: str | None = None
    #: When the credential ends by itself (STS, temporary credentials), else None.
    expires_at: datetime | None = None
    #: The registry password's version (its change time) when that was the credential:
    #: refresh tokens made from it die when it changes.
    password_version: int | None = None


@dataclass(frozen=True, slots=True)
class AccessKeyView:
    id: str
    username: str
    status: str
    description: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    key: AccessKeyView
    secret: str


@dataclass(frozen=True, slots=True)
class StsIssued:
    access_key_id: str
    access_key_secret: str
    security_token: str
    expiration: datetime


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    username: str
    password: str
    expires_at: datetime
