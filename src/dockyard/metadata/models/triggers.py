"""Webhook triggers of repositories and their delivery log (PRODUCT.md §7).

A trigger goes with its repository (ON DELETE CASCADE). A delivery record keeps the
trigger's name, so the log still reads after the trigger is deleted (``trigger_id`` then
becomes NULL); it goes with the repository, or when the retention period ends.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class Trigger(Base):
    __tablename__ = "triggers"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    mode: Mapped[str] = mapped_column(String(16))  # every | expression | tags
    expression: Mapped[str | None] = mapped_column(String(512), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    cloudevents: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The HMAC key, encrypted with the master key; None: deliveries are not signed.
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TriggerDelivery(Base):
    """One push (or ping, or redelivery) as one trigger handled it: the trigger log."""

    __tablename__ = "trigger_deliveries"
    __table_args__ = (
        # A re-run of the subscriber for one event records nothing twice.
        UniqueConstraint("trigger_id", "event_id"),
        # The log pages newest first, per repository, optionally per trigger or status.
        Index("ix_trigger_deliveries_log", "repository_id", "created_at", "id"),
        Index("ix_trigger_deliveries_trigger", "repository_id", "trigger_name", "created_at"),
        Index("ix_trigger_deliveries_status", "repository_id", "status", "created_at"),
        Index("ix_trigger_deliveries_created_at", "created_at"),
    )

    #: Also the delivery id the receiver sees (``X-Dockyard-Delivery``).
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    trigger_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("triggers.id", ondelete="SET NULL"), nullable=True
    )
    trigger_name: Mapped[str] = mapped_column(String(64))
    #: The outbox event that caused it; None for pings and redeliveries.
    event_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    tag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # Pending|Triggered|Failed|Untriggered
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    ping: Mapped[bool] = mapped_column(Boolean, default=False)
    redelivery_of: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    #: The delivery's data object (instance, namespace, tag, …), the same on every attempt.
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
