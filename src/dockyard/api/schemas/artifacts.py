"""Tags, manifests and layers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from dockyard.api.schemas.common import ApiModel


class PlatformOut(ApiModel):
    os: str
    architecture: str
    variant: str | None
    digest: str
    media_type: str
    size: int | None = Field(description="Manifest + config + layers; null if not pushed")


class TagOut(ApiModel):
    name: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int = Field(description="Manifest + config + layers; for an index, the index itself")
    pushed_at: datetime
    platforms: list[PlatformOut] = Field(description="For an image index: each platform")
    pushed_by: str | None = Field(
        description="Who pushed the manifest the tag points at (its first push here)"
    )


class ManifestOut(ApiModel):
    digest: str
    media_type: str
    size: int
    manifest: dict[str, Any]


class HistoryOut(ApiModel):
    created: str | None
    created_by: str | None
    comment: str | None
    author: str | None


class LayerOut(ApiModel):
    digest: str
    size: int
    media_type: str
    history: HistoryOut | None = Field(
        description="The config history entry that created the layer"
    )


class LayersOut(ApiModel):
    manifest_digest: str
    platform: str | None
    layers: list[LayerOut]
