"""Replication remotes and tasks (PRODUCT.md §6). No shape carries a remote's secret out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class RemoteCreate(RequestModel):
    name: str = Field(max_length=64, pattern=_NAME, description="1-64 letters, digits, '-', '_'")
    url: str = Field(
        max_length=2048,
        description="`https://host[:port]` of the registry; `http://` only when written so",
    )
    remote_instance: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "The instance id at a remote Dockyard, recorded and shown with the remote. The "
            "URL reaches it: Dockyard routes registry requests by `Host` among the "
            "instances' endpoint domains, and each endpoint's access allowlist applies to "
            "what arrives on it, so the URL is one of that instance's endpoint domains"
        ),
    )
    username: str = Field(
        min_length=1, max_length=256, description="A user name, or an access key id"
    )
    secret: str = Field(
        min_length=1,
        max_length=4096,
        description="The password or access key secret; stored encrypted, never returned",
    )
    ca_bundle: str | None = Field(
        default=None, max_length=65536, description="PEM certificates to trust besides the system's"
    )


class RemoteOut(ApiModel):
    name: str
    url: str
    remote_instance: str | None
    username: str
    has_ca_bundle: bool
    created_at: datetime


class ReplicateRequest(RequestModel):
    tag: str | None = Field(default=None, max_length=128, description="One tag to replicate")
    tags: str | None = Field(
        default=None,
        max_length=512,
        description="Or a regex: every tag it matches wholly, one task each",
    )
    to: str = Field(max_length=64, description="An instance of this deployment, or a remote's name")
    namespace: str | None = Field(
        default=None, max_length=64, description="Destination namespace (default: the same)"
    )
    destination_repository: str | None = Field(
        default=None, max_length=128, description="Destination repository (default: the same)"
    )
    destination_tag: str | None = Field(
        default=None, max_length=128, description="Destination tag (default: the same)"
    )
    overwrite: bool = Field(
        default=False, description="Replace a different image at the destination tag"
    )


class LayerOut(ApiModel):
    digest: str
    size: int
    status: str = Field(description="`waiting`, `copied`, `already present` or `failed`")
    reason: str | None


class TaskOut(ApiModel):
    id: uuid.UUID
    source_repository: str
    source_tag: str
    source_digest: str | None
    destination: str
    destination_kind: str = Field(description="`instance` (this deployment) or `remote`")
    destination_repository: str
    destination_tag: str
    overwrite: bool
    status: str = Field(description="`Waiting`, `Running`, `Completed`, `Failed`, `Cancelled`")
    reason: str | None
    bytes_sent: int = Field(description="Blob bytes sent over the network")
    created_by: str | None
    rule: str | None = Field(description="The rule that made it (null: by hand)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    layers: list[LayerOut] = Field(description="Per blob (only in a single task's view)")


class TasksOut(ApiModel):
    items: list[TaskOut]


class RuleCreate(RequestModel):
    name: str = Field(max_length=64, pattern=_NAME, description="1-64 letters, digits, '-', '_'")
    to: str = Field(
        max_length=64, description="Another instance of this deployment, or a remote's name"
    )
    level: Literal["namespace", "repository"] = Field(
        description="Whether `source` is a namespace or a repository"
    )
    source: str = Field(max_length=256, description="`ns`, or `ns/repo`")
    tags: str = Field(
        default=".*", max_length=512, description="A regex the whole pushed tag must match"
    )


class RuleUpdate(RequestModel):
    enabled: bool = Field(description="A disabled rule makes no task")


class RuleOut(ApiModel):
    name: str
    destination: str
    destination_kind: str
    level: str
    source: str
    tags: str
    enabled: bool
    created_at: datetime
