"""Replication remotes, tasks and per-layer records (PRODUCT.md §6).

A task names its source and destination by name (``ns/repo``, a tag, an instance id or a
remote's name), not by id: the record still reads after either side is deleted. Remotes
and tasks go with their instance; layer rows go with their task.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class ReplicationRemote(Base):
    """A registry outside this deployment; its secret is sealed with the master key."""

    __tablename__ = "replication_remotes"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    #: The instance of a remote Dockyard (None: a plain OCI registry, or its default one).
    remote_instance: Mapped[str | None] = mapped_column(String(64), nullable=True)
    username: Mapped[str] = mapped_column(String(256))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    #: PEM certificates trusted for this remote besides the system's.
    ca_bundle: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplicationTask(Base):
    """One tag replicated to one destination: a state machine the background jobs drive."""

    __tablename__ = "replication_tasks"
    __table_args__ = (
        Index("ix_replication_tasks_instance", "instance_id", "created_at"),
        Index("ix_replication_tasks_event", "event_id", "rule", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    source_repository: Mapped[str] = mapped_column(String(256))
    source_tag: Mapped[str] = mapped_column(String(128))
    #: What the tag pointed to when the task ran (None until then).
    source_digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: An instance id (``destination_kind`` ``instance``) or a remote's name (``remote``).
    destination: Mapped[str] = mapped_column(String(64))
    destination_kind: Mapped[str] = mapped_column(String(16))
    destination_repository: Mapped[str] = mapped_column(String(256))
    destination_tag: Mapped[str] = mapped_column(String(128))
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: The rule that made it, and the push event it made it for (None: by hand).
    rule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReplicationTaskLayer(Base):
    """What became of one blob of a task: ``copied``, ``already present`` or ``failed``."""

    __tablename__ = "replication_task_layers"

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("replication_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(128), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReplicationRule(Base):
    """Every push matching ``level``/``source`` and the ``tags`` regex becomes a task."""

    __tablename__ = "replication_rules"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    destination_kind: Mapped[str] = mapped_column(String(16))
    #: ``namespace`` (``source`` is a namespace) or ``repository`` (``ns/repo``).
    level: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(256))
    #: A regex the whole tag must match.
    tags: Mapped[str] = mapped_column(String(512))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
