"""What the faces see of replication: remotes (never their secret), tasks and layer rows;
and how a tag regex is matched."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import regex

from dockyard.errors import InvalidInputError

WAITING = "Waiting"
RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELLED = "Cancelled"
TASK_STATES = (WAITING, RUNNING, COMPLETED, FAILED, CANCELLED)
#: States a task never leaves by itself (a failed one leaves by a retry).
FINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED})

#: A layer row: planned, then one of the three outcomes.
LAYER_WAITING = "waiting"
COPIED = "copied"
ALREADY_PRESENT = "already present"
LAYER_FAILED = "failed"

#: ``destination_kind``: another instance of this deployment, or a registered remote.
TO_INSTANCE = "instance"
TO_REMOTE = "remote"


@dataclass(frozen=True, slots=True)
class RemoteSpec:
    """A remote as ``dockyard remote add`` describes it; ``secret`` is sealed on save."""

    name: str
    url: str
    username: str
    secret: str
    remote_instance: str | None = None
    ca_bundle: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteView:
    name: str
    url: str
    remote_instance: str | None
    username: str
    has_ca_bundle: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    """A remote with its secret opened: what the background worker connects with."""

    url: str
    username: str
    secret: str
    ca_bundle: str | None


@dataclass(frozen=True, slots=True)
class ReplicationRequest:
    """Replicate ``tag`` (or every tag matching ``tags``) of ``repository`` to ``to``."""

    repository: str
    to: str
    tag: str | None = None
    tags: str | None = None
    namespace: str | None = None
    destination_repository: str | None = None
    destination_tag: str | None = None
    overwrite: bool = False


@dataclass(frozen=True, slots=True)
class LayerView:
    digest: str
    size: int
    status: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class TaskView:
    id: uuid.UUID
    source_repository: str
    source_tag: str
    source_digest: str | None
    destination: str
    destination_kind: str
    destination_repository: str
    destination_tag: str
    overwrite: bool
    status: str
    reason: str | None
    bytes_sent: int
    created_by: str | None
    #: The rule that made it (None: by hand).
    rule: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    layers: tuple[LayerView, ...] = ()


NAMESPACE_LEVEL = "namespace"
REPOSITORY_LEVEL = "repository"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """``source`` is a namespace (level ``namespace``) or ``ns/repo`` (``repository``)."""

    name: str
    to: str
    level: str
    source: str
    tags: str = ".*"


@dataclass(frozen=True, slots=True)
class RuleView:
    name: str
    destination: str
    destination_kind: str
    level: str
    source: str
    tags: str
    enabled: bool
    created_at: datetime


#: Seconds one tag may take to match a tag regex (a user's regex can backtrack for ever);
#: a tag that runs out of time does not match.
MATCH_SECONDS = 0.05


def check_tag_regex(pattern: str) -> str:
    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise InvalidInputError(f"invalid tag regex: {exc}") from exc
    return pattern


def tag_matches(pattern: str, tag: str) -> bool:
    """Whether the regex matches the whole tag (in bounded time)."""
    try:
        return regex.fullmatch(pattern, tag, timeout=MATCH_SECONDS) is not None
    except TimeoutError:
        return False
