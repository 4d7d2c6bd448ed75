"""Background jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from dockyard.api.schemas.common import ApiModel


class JobOut(ApiModel):
    id: uuid.UUID
    kind: str = Field(description="What the job does: `purge-uploads`, `event:<subscriber>`, …")
    state: str = Field(description="waiting, running or failed (finished jobs are removed)")
    attempts: int = Field(description="Attempts started so far")
    last_error: str | None = Field(description="Why the latest failed attempt failed")
    ordering_key: str | None = Field(
        description="Jobs sharing this key run one at a time, oldest first"
    )
    created_at: datetime
    updated_at: datetime
    run_after: datetime = Field(
        description="When a waiting job is due, or when a running job's lease expires"
    )
