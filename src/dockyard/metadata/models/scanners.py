"""External scanners: scanner adapters speaking Harbor's Pluggable Scanner API, registered
deployment-wide (like the vulnerability database) by name.

A registration keeps the adapter's base URL, the registry URL the adapter pulls images
from, the optional ``Authorization`` value Dockyard sends the adapter (encrypted under the
master key), whether it runs instead of the built-in scanner, and the adapter's metadata
as read when it was registered (its name, vendor, version and the report type asked for).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, utcnow


class ExternalScanner(Base):
    __tablename__ = "external_scanners"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    registry_url: Mapped[str] = mapped_column(String(2000))
    authorization_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    instead_of_builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    adapter: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
