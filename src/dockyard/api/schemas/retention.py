"""Tag retention policies of an instance and their runs (Advanced edition).

Fields are checked by the retention service (its messages name the rule broken), so the
schema only bounds their sizes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

_KEEP_TAGS = (
    "Tags to keep whatever their age: `*` or empty keeps every tag (the default: nothing is "
    "deleted); anything else is a regular expression that must match the whole tag"
)
_SCHEDULE = "Run daily at this UTC time (`HH:MM`); empty: on demand only"


class PolicyCreate(RequestModel):
    name: str = Field(
        max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="1-64 of letters, digits, '-', '_'"
    )
    namespace: str | None = Field(
        default=None, max_length=64, description="Every repository of this namespace"
    )
    repositories: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Or these repositories (`namespace/repository`), in any namespaces",
    )
    keep_latest: int = Field(
        ge=1, description="Keep the tags of the N most recently pushed manifests"
    )
    keep_tags: str | None = Field(default=None, max_length=512, description=_KEEP_TAGS)
    schedule: str | None = Field(default=None, max_length=5, description=_SCHEDULE)


class PolicyUpdate(RequestModel):
    namespace: str | None = Field(
        default=None,
        max_length=64,
        description="Apply to every repository of this namespace instead (not with repositories)",
    )
    repositories: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Apply to these repositories instead (not with namespace)",
    )
    keep_latest: int | None = Field(default=None, ge=1)
    keep_tags: str | None = Field(default=None, max_length=512, description=_KEEP_TAGS)
    schedule: str | None = Field(
        default=None, max_length=5, description=f"{_SCHEDULE}; an empty string removes it"
    )


class PolicyOut(ApiModel):
    name: str
    namespace: str | None
    repositories: list[str]
    keep_latest: int
    keep_tags: str
    schedule: str | None
    next_run_at: datetime | None = Field(description="When the scheduled run is next due")
    created_at: datetime
    updated_at: datetime


class RunRequest(RequestModel):
    dry_run: bool = Field(
        default=False, description="List what an execution would delete now; delete nothing"
    )


class RepositoryOutcomeOut(ApiModel):
    repository: str
    kept: list[str]
    kept_immutable: list[str] = Field(
        description="Tags retention would delete but keeps: the repository is immutable"
    )
    deleted: list[str] = Field(description="Tags deleted (in a dry run: that would be)")
    deleted_manifests: list[str] = Field(
        description="Manifests deleted because nothing references them any more"
    )


class RunOut(ApiModel):
    id: uuid.UUID | None = Field(description="None for a dry run (it is not recorded)")
    policy: str
    dry_run: bool
    trigger: str = Field(description="manual or scheduled")
    actor: str | None
    status: str = Field(description="Succeeded, or Stopped (`reason` says why)")
    reason: str | None
    started_at: datetime
    finished_at: datetime
    repositories: list[RepositoryOutcomeOut]
