"""Audit events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from dockyard.api.schemas.common import ApiModel


class AuditEventOut(ApiModel):
    id: uuid.UUID
    at: datetime
    actor: str = Field(description="User name, `anonymous`, or `system`")
    actor_id: uuid.UUID | None = Field(description="The user's id, when known")
    source_ip: str = Field(description="The client address, as the server saw it")
    action: str = Field(description="The policy action (`cr:PushRepository`) or an event name")
    resource: str = Field(description="The resource ARN, or `*`")
    outcome: str = Field(description="success, failure or denied")
    detail: dict[str, Any] = Field(description="Names and ids; never a secret")
