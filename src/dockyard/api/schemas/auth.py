"""Sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel


class SignInRequest(RequestModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256, description="The console password")


class SessionOut(ApiModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="Seconds until the token expires")
    expires_at: datetime
