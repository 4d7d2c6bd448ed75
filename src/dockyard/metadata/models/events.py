"""The transactional outbox and the durable job queue."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it describes.

    Triggers, replication and audit consume these later; nothing is published from
    inside a request, so a crash can never lose or invent an event.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unpublished", "published_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Job(Base):
    """Durable background work, leased by one worker at a time and retried with backoff."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_ready", "state", "run_after"),
        Index("ix_jobs_ordering_key", "ordering_key", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Jobs sharing a key run one at a time, in ``(created_at, id)`` order; None: no order.
    ordering_key: Mapped[str | None] = mapped_column(String(255), nullable=True)


class PeriodicSchedule(Base):
    """When a periodic job is next due; the row every node competes to claim."""

    __tablename__ = "periodic_schedules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
