"""The record of garbage collection runs, and the lease that keeps one running at a time.

A run in progress holds the deployment's GC lease: its row has ``status = running`` and a
``lease_expires_at`` the run keeps pushing forward. A new run starts only when no running
row has a live lease; a node that died mid-run leaves a row whose lease lapses, and the
next start records it as ``abandoned``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class GcRun(Base):
    __tablename__ = "gc_runs"
    __table_args__ = (Index("ix_gc_runs_started_at", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    #: Who started it; None for the periodic schedule.
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | scheduled
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    #: running | succeeded | failed | abandoned
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: The phase running now (the CLI's progress), or the last one reached.
    phase: Mapped[str] = mapped_column(String(16), default="starting")
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blobs_deleted: Mapped[int] = mapped_column(Integer, default=0)
    bytes_reclaimed: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Blobs found unreferenced this run: deleted by a run at least the grace period later.
    blobs_condemned: Mapped[int] = mapped_column(Integer, default=0)
    manifests_deleted: Mapped[int] = mapped_column(Integer, default=0)
    uploads_purged: Mapped[int] = mapped_column(Integer, default=0)
    orphans_deleted: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
