"""Tag retention policies of an instance and the record of their runs (PRODUCT.md §9).

A policy names its scope by name (a namespace, or repositories' full names), not by id:
a repository deleted and pushed again under the same name is still in scope. Policies and
their runs go with their instance (ON DELETE CASCADE); runs go with their policy.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class RetentionPolicy(Base):
    __tablename__ = "retention_policies"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    #: The namespace whose every repository it applies to; None: ``repositories`` instead.
    namespace: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Full names (``ns/repo``) of the repositories it applies to, when no namespace.
    repositories: Mapped[list[str]] = mapped_column(JSON, default=list)
    keep_latest: Mapped[int] = mapped_column(Integer)
    #: ``*`` (every tag) or a regex that must match the whole tag.
    keep_tags: Mapped[str] = mapped_column(String(512), default="*")
    #: ``HH:MM`` UTC, daily; None: run on demand only.
    schedule: Mapped[str | None] = mapped_column(String(5), nullable=True)
    #: When the scheduled run is next due; the periodic job claims due rows under a lock.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RetentionRun(Base):
    """One execution of a policy: who, when, and per repository the kept and deleted tags."""

    __tablename__ = "retention_runs"
    __table_args__ = (Index("ix_retention_runs_policy", "policy_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    policy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("retention_policies.id", ondelete="CASCADE")
    )
    #: Who ran it; None for a scheduled run.
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | scheduled
    status: Mapped[str] = mapped_column(String(16))  # Succeeded | Stopped
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Per repository: kept, keptImmutable, deleted tags and deletedManifests.
    repositories: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
