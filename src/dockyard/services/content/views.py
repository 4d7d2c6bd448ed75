"""Read models of blobs, uploads, manifests and tags."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from dockyard.errors import DockyardError, NotFoundError
from dockyard.services.tenancy import RepositoryRef

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Lookup(Generic[T]):
    """A repository (None: unknown) and what one read found in it, from ONE statement.

    The hot registry reads (manifest GET/HEAD, blob HEAD/GET, tags list) fetch the
    repository and the object together. The handler authorizes with ``repo`` first and
    only then calls :meth:`get`, which returns the object or raises what the separate
    read would have raised (unknown or malformed reference), so a caller without access
    learns nothing more than before.
    """

    repo: RepositoryRef | None
    value: T | None
    error: DockyardError | None = None

    def get(self) -> T:
        if self.value is None:
            raise self.error or NotFoundError("not found")
        return self.value


@dataclass(frozen=True, slots=True)
class UploadState:
    id: uuid.UUID
    size: int


@dataclass(frozen=True, slots=True)
class ManifestView:
    digest: str
    media_type: str
    content: bytes
    #: Signature policies, and a blocking scan policy, may refuse pulling it: read with the
    #: manifest, so an ungated pull asks nothing more.
    signature_gated: bool = False
    scan_gated: bool = False


@dataclass(frozen=True, slots=True)
class PlatformView:
    """One platform of an image index, with the size of that platform's image."""

    os: str
    architecture: str
    variant: str | None
    digest: str
    media_type: str
    #: Manifest + config + layers of the platform's image; None when it is not in the repo.
    size: int | None


@dataclass(frozen=True, slots=True)
class TagView:
    name: str
    digest: str
    media_type: str
    artifact_type: str | None
    #: Manifest + config + layers; for an index, the index itself (see ``platforms``).
    size: int
    pushed_at: datetime
    platforms: tuple[PlatformView, ...] = ()
    #: Who pushed the manifest the tag points at (its first push to this repository);
    #: None for content that came without a user (seeded, or from before users existed).
    pushed_by: str | None = None


@dataclass(frozen=True, slots=True)
class TagPointer:
    """A tag and the digest it points at, with its last move (what retention ranks by)."""

    name: str
    digest: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PrunedTags:
    """What ``ContentService.prune_tags`` deleted, each in name order."""

    tags: tuple[str, ...]
    manifests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created: str | None
    created_by: str | None
    comment: str | None
    author: str | None


@dataclass(frozen=True, slots=True)
class LayerView:
    digest: str
    size: int
    media_type: str
    #: The config history entry that created the layer (``empty_layer`` entries skipped).
    history: HistoryEntry | None


@dataclass(frozen=True, slots=True)
class LayersView:
    manifest_digest: str
    platform: str | None
    layers: list[LayerView]


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None
