"""Blobs, manifests, tags and uploads, plus the reference graph that GC walks.

Blob bytes live in the blob store; a blob is visible in a repository only through a
``repository_blobs`` link. Manifest bytes live here (≤ 4 MiB), so a manifest and its tag
commit in one transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class Blob(Base):
    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    digest: Mapped[str] = mapped_column(String(200), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When garbage collection found no manifest referring to it; None while it is needed.
    #: A blob HEAD, mount or upload of it clears this (docs/operations.md, GC's argument).
    condemned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class RepositoryBlob(Base):
    """A blob pushed to or mounted into a repository: the only way to see it there."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Manifest(Base):
    __tablename__ = "manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_manifests_repository_id_subject_digest", "repository_id", "subject_digest"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    digest: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subject_digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Total bytes: manifest + config + layers (for an index, the manifest itself).
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    #: Manifest annotations as JSON text, returned by the referrers API.
    annotations: Mapped[str | None] = mapped_column(String, nullable=True)
    pushed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ManifestReference(Base):
    """An edge of the reference graph: manifest → config/layer blob or index → child."""

    __tablename__ = "manifest_references"

    manifest_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # config | layer | manifest
    digest: Mapped[str] = mapped_column(String(200), index=True)
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("manifests.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """A blob upload session; its bytes live in the blob store under ``storage_key``."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
