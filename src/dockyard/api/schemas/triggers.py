"""Webhook triggers of a repository and their delivery log.

Fields are checked by the triggers service (its messages name the rule broken: §7's URL
rules, the name rule, the regex, 1-10 tags), so the schema only bounds their sizes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

TriggerMode = Literal["every", "expression", "tags"]
RecordStatus = Literal["Pending", "Triggered", "Failed", "Untriggered"]

_URL = "http (port 80, 21, 70, 210, 280, 443, 488, 591, 777 or 1025-65535) or https (port 443 only)"
_EXPRESSION = "With mode expression: a regular expression matched from the start of the tag"
_TAGS = "With mode tags: 1 to 10 tags"


class TriggerCreate(RequestModel):
    name: str = Field(max_length=64, description="1-64 of letters, digits, '-', '_'")
    url: str = Field(max_length=2048, description=_URL)
    mode: TriggerMode = Field(description="every push, an expression, or a list of tags")
    expression: str | None = Field(default=None, max_length=512, description=_EXPRESSION)
    tags: list[str] | None = Field(default=None, max_length=100, description=_TAGS)
    cloudevents: bool = Field(
        default=False, description="Send a CloudEvents 1.0 structured event instead"
    )
    secret: bool = Field(
        default=False,
        description="Generate an HMAC-SHA256 secret (returned once, in this answer)",
    )


class TriggerUpdate(RequestModel):
    url: str | None = Field(default=None, max_length=2048, description=_URL)
    mode: TriggerMode | None = None
    expression: str | None = Field(default=None, max_length=512, description=_EXPRESSION)
    tags: list[str] | None = Field(default=None, max_length=100, description=_TAGS)
    cloudevents: bool | None = None
    secret: bool | None = Field(
        default=None,
        description="true: generate a new secret (returned once); false: remove it",
    )


class TriggerOut(ApiModel):
    name: str
    url: str = Field(
        description="The query string is masked (`?***`) unless the caller has "
        "cr:UpdateWebHook on the repository"
    )
    mode: str
    expression: str | None
    tags: list[str]
    cloudevents: bool
    has_secret: bool
    created_at: datetime
    updated_at: datetime


class TriggerWithSecretOut(TriggerOut):
    secret: str | None = Field(
        default=None, description="The generated secret: shown only in this answer"
    )


class TriggerRecordOut(ApiModel):
    id: uuid.UUID = Field(description="The delivery id (`X-Dockyard-Delivery`)")
    trigger: str
    tag: str | None
    digest: str | None
    status: str = Field(description="Pending, Triggered, Failed or Untriggered")
    reason: str | None = Field(description="Why it did not fire, or why an attempt failed")
    response_status: int | None
    attempts: int
    latency_ms: float | None
    ping: bool
    redelivery_of: uuid.UUID | None = Field(description="The delivery this one repeats")
    created_at: datetime
    updated_at: datetime
