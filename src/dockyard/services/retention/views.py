"""What the faces see of retention policies and their runs, and what they send."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Trigger = Literal["manual", "scheduled"]
MANUAL: Trigger = "manual"
SCHEDULED: Trigger = "scheduled"
Status = Literal["Succeeded", "Stopped"]
SUCCEEDED: Status = "Succeeded"
STOPPED: Status = "Stopped"


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A new policy: ``namespace`` or ``repositories`` (full names), not both."""

    name: str
    keep_latest: int
    namespace: str | None = None
    repositories: list[str] | None = None
    keep_tags: str | None = None
    schedule: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """An update: None leaves a field as it is; an empty ``schedule`` removes it. A
    ``namespace`` or ``repositories`` (not both) replaces the policy's scope."""

    keep_latest: int | None = None
    keep_tags: str | None = None
    schedule: str | None = None
    namespace: str | None = None
    repositories: list[str] | None = None


@dataclass(frozen=True, slots=True)
class PolicyView:
    name: str
    namespace: str | None
    repositories: list[str]
    keep_latest: int
    keep_tags: str
    schedule: str | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RepositoryOutcome:
    """One repository of a run: its tags kept, kept because the repository is immutable,
    deleted (or, in a dry run, to delete), and the manifests deleted with them."""

    repository: str
    kept: list[str]
    kept_immutable: list[str]
    deleted: list[str]
    deleted_manifests: list[str]


@dataclass(frozen=True, slots=True)
class RunView:
    """A run (or a dry run: no id, nothing deleted, nothing recorded)."""

    id: uuid.UUID | None
    policy: str
    dry_run: bool
    trigger: str
    actor: str | None
    status: str
    reason: str | None
    started_at: datetime
    finished_at: datetime
    repositories: list[RepositoryOutcome]

    @property
    def deleted_tags(self) -> int:
        return sum(len(r.deleted) for r in self.repositories)
