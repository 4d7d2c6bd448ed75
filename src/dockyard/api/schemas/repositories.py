"""Repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import RequestModel
from dockyard.api.schemas.namespaces import PlacementIn, PlacementOut, RepositoryType

TagMutability = Literal["Flexible", "Immutable"]
REPOSITORY_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"


class RepositoryCreate(PlacementIn):
    name: str = Field(pattern=REPOSITORY_PATTERN, description="1-64 of a-z, 0-9, '-', '_'")
    type: RepositoryType | None = Field(
        default=None, description="Defaults to the namespace's default repository type"
    )
    summary: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=2000)
    tag_mutability: TagMutability = Field(
        default="Flexible", description="Immutable needs the Advanced edition"
    )


class RepositoryUpdate(RequestModel):
    type: RepositoryType | None = None
    summary: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    tag_mutability: TagMutability | None = None


class RepositoryOut(PlacementOut):
    id: str
    instance_id: str
    namespace: str
    name: str
    full_name: str
    type: str
    summary: str
    description: str
    tag_mutability: str
    created_at: datetime
    updated_at: datetime
