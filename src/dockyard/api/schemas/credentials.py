"""Registry passwords, access keys, STS credentials, temporary registry credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel
from dockyard.services.credentials import (
    MAX_ACCESS_KEYS,
    STS_DEFAULT_SECONDS,
    STS_MAX_SECONDS,
    STS_MIN_SECONDS,
)
from dockyard.services.passwords import REGISTRY_PASSWORD_MAX


class RegistryPasswordIn(RequestModel):
    password: str = Field(
        min_length=1,
        max_length=256,
        description=(
            f"8-{REGISTRY_PASSWORD_MAX} characters with at least two of lower-case letters, "
            "upper-case letters, digits and symbols; never expires"
        ),
    )
    confirm: str = Field(min_length=1, max_length=256, description="The same password again")


class AccessKeyCreate(RequestModel):
    description: str = Field(default="", max_length=255)


class AccessKeyUpdate(RequestModel):
    status: Literal["active", "disabled"]


class AccessKeyOut(ApiModel):
    access_key_id: str = Field(description="`AK` + 22 alphanumerics")
    username: str
    status: Literal["active", "disabled"]
    description: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute")


class AccessKeyCreated(AccessKeyOut):
    access_key_secret: str = Field(description="Shown once, never again: keep it now")


class AccessKeyList(ApiModel):
    items: list[AccessKeyOut] = Field(description=f"At most {MAX_ACCESS_KEYS} keys per user")


class StsRequest(RequestModel):
    duration_seconds: int = Field(
        default=STS_DEFAULT_SECONDS, ge=STS_MIN_SECONDS, le=STS_MAX_SECONDS
    )


class StsOut(ApiModel):
    access_key_id: str = Field(description="`STS.` + random")
    access_key_secret: str
    security_token: str = Field(description="Send as the X-Dockyard-Security-Token header")
    expiration: datetime


class AuthorizationTokenOut(ApiModel):
    temp_username: str = Field(description="Always `cr_temp_user`")
    authorization_token: str = Field(description="The password for `docker login`")
    expires_at: datetime
