"""Garbage collection runs (deployment-wide)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel


class GcRunRequest(RequestModel):
    dry_run: bool = Field(
        default=False, description="Count what a run would reclaim now; delete nothing"
    )


class GcRunOut(ApiModel):
    id: uuid.UUID
    actor: str | None = Field(description="Who started it; null for the schedule")
    trigger: str = Field(description="manual or scheduled")
    dry_run: bool
    status: str = Field(description="running, succeeded, failed or abandoned")
    phase: str = Field(
        description="The phase running (uploads, manifests, mark, sweep, orphans) or `done`"
    )
    blobs_deleted: int
    bytes_reclaimed: int = Field(description="Blob, orphan and upload bytes deleted")
    blobs_condemned: int = Field(
        description=(
            "Blobs found unreferenced by this run: a run at least the grace period later "
            "deletes those still unreferenced that no client saw meanwhile"
        )
    )
    manifests_deleted: int
    uploads_purged: int
    orphans_deleted: int = Field(description="Stored blobs no database row named")
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
