"""Blob downloads in progress: the concurrently-pulling-client limit counts these rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class PullLease(Base):
    """One blob download in progress, held by the worker sending it.

    The worker renews ``expires_at`` while it sends and deletes the row when the download
    ends; a row whose worker died stops being renewed and no longer counts once it expires.
    A "pulling client" is a distinct ``address`` with an unexpired row (PRODUCT.md §1).
    """

    __tablename__ = "pull_leases"
    __table_args__ = (Index("ix_pull_leases_live", "instance_id", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    #: The client's source address (after trusted-proxy rewriting).
    address: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
