"""Namespaces."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

RepositoryType = Literal["private", "public"]
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,28}[a-z0-9]$"


class NamespaceCreate(RequestModel):
    name: str = Field(pattern=NAMESPACE_PATTERN, description="2-30 of a-z, 0-9, '-', '_'")
    auto_create: bool = Field(default=True, description="A push to a missing repository creates it")
    default_repository_type: RepositoryType = "private"


class NamespaceUpdate(RequestModel):
    auto_create: bool | None = None
    default_repository_type: RepositoryType | None = None


class NamespaceOut(ApiModel):
    instance_id: str
    name: str
    auto_create: bool
    default_repository_type: str
    repository_count: int
    created_at: datetime
    updated_at: datetime
