"""Namespaces."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

RepositoryType = Literal["private", "public"]
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,28}[a-z0-9]$"


class PlacementIn(RequestModel):
    """Where a new namespace or repository is filed (each checked: 400 naming the field)."""

    organization_id: str | None = Field(
        default=None, max_length=64, description="An existing organization's id"
    )
    resource_set: str | None = Field(
        default=None,
        max_length=64,
        description="An existing resource set's name; the new resource becomes its member",
    )
    region: str | None = Field(
        default=None, max_length=64, description="Must be the instance's region (the default)"
    )


class PlacementOut(ApiModel):
    organization_id: str | None
    resource_set: str | None
    region: str


class NamespaceCreate(PlacementIn):
    name: str = Field(pattern=NAMESPACE_PATTERN, description="2-30 of a-z, 0-9, '-', '_'")
    auto_create: bool = Field(default=True, description="A push to a missing repository creates it")
    default_repository_type: RepositoryType = "private"


class NamespaceUpdate(RequestModel):
    auto_create: bool | None = None
    default_repository_type: RepositoryType | None = None


class NamespaceOut(PlacementOut):
    instance_id: str
    name: str
    auto_create: bool
    default_repository_type: str
    repository_count: int
    created_at: datetime
    updated_at: datetime
