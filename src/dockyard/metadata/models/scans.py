"""Image scans: one row per scanned manifest of a repository, keyed by its digest.

A scan moves ``queued`` -> ``scanning`` -> ``done`` or ``failed`` (with the reason). A done
scan keeps the packages found (from the SBOM syft wrote, which is stored as a referrer of
the image), the vulnerabilities matched and the vulnerability database version used.
Rows go with their repository.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, utcnow


class ImageScan(Base):
    __tablename__ = "image_scans"

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    db_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The SBOM referrer's manifest digest.
    sbom_digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The OSV ecosystem of the image's OS (``Debian:12``), when it names one.
    os: Mapped[str | None] = mapped_column(String(100), nullable=True)
    packages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    vulnerabilities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    requested_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScanPolicy(Base):
    """A namespace's scanning policy: scan on push, and the pull gate. No row: scanning
    on demand only, every pull allowed."""

    __tablename__ = "scan_policies"

    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    scan_on_push: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Pulls of images with a vulnerability of this severity or more are refused; None: no.
    block_severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    block_unscanned: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``[{"id": "CVE-…", "expires": "2027-01-31" | null}]``: ids (or aliases) the gate ignores.
    allowlist: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
