"""What the faces see of triggers and their log, and what they send to change them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Status = Literal["Pending", "Triggered", "Failed", "Untriggered"]
STATUSES: tuple[Status, ...] = ("Pending", "Triggered", "Failed", "Untriggered")
PENDING: Status = "Pending"
TRIGGERED: Status = "Triggered"
FAILED: Status = "Failed"
UNTRIGGERED: Status = "Untriggered"


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A new trigger. ``secret``: generate an HMAC key (shown once, in the answer)."""

    name: str
    url: str
    mode: str
    expression: str | None = None
    tags: list[str] | None = None
    cloudevents: bool = False
    secret: bool = False


@dataclass(frozen=True, slots=True)
class TriggerChanges:
    """An update: None leaves a field as it is. ``secret``: True makes a new key (shown
    once), False removes the key."""

    url: str | None = None
    mode: str | None = None
    expression: str | None = None
    tags: list[str] | None = None
    cloudevents: bool | None = None
    secret: bool | None = None


@dataclass(frozen=True, slots=True)
class TriggerView:
    name: str
    #: Masked (``?***``) unless the reader may change the trigger.
    url: str
    mode: str
    expression: str | None
    tags: list[str]
    cloudevents: bool
    has_secret: bool
    created_at: datetime
    updated_at: datetime
    #: Only in the answer to the change that generated it.
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class TriggerRecordView:
    """One line of the trigger log: a push (or ping, or redelivery) for one trigger."""

    id: uuid.UUID
    trigger: str
    tag: str | None
    digest: str | None
    status: str
    reason: str | None
    response_status: int | None
    attempts: int
    latency_ms: float | None
    ping: bool
    redelivery_of: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
