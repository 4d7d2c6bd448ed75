"""What the faces see of garbage collection runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Trigger = Literal["manual", "scheduled"]
MANUAL: Trigger = "manual"
SCHEDULED: Trigger = "scheduled"

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

#: The phases of a run, in order (``GcRunView.phase`` names the one running or reached).
PHASES = ("uploads", "manifests", "mark", "sweep", "orphans")
DONE = "done"


@dataclass(frozen=True, slots=True)
class GcRunView:
    """One run: who, when, and what it reclaimed (in a dry run: what it would have)."""

    id: uuid.UUID
    actor: str | None
    trigger: str
    dry_run: bool
    status: str
    phase: str
    blobs_deleted: int
    bytes_reclaimed: int
    #: Blobs found unreferenced by this run; a run at least the grace period later deletes
    #: those that stayed so and that no client proved meanwhile.
    blobs_condemned: int
    manifests_deleted: int
    uploads_purged: int
    orphans_deleted: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
