"""The offline vulnerability database: OSV records, the packages each names, and imports.

It is deployment-wide (not per instance): advisories are public facts. A record is kept
whole (``document``, the OSV JSON as imported) because its ranges are evaluated per
ecosystem at match time; ``vuln_packages`` indexes it by (ecosystem, package name) so a
match reads only the records naming the packages it asks about. Re-importing a record
replaces it and its package rows in place. ``vulndb_imports`` records each import; its
latest id is the database version a scan reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, utcnow


class VulnRecord(Base):
    __tablename__ = "vuln_records"

    #: The OSV id (``GHSA-…``, ``DSA-…``, ``CVE-…``).
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    modified: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN.
    severity: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VulnPackage(Base):
    """One (ecosystem, package) a record affects, as the record spells them."""

    __tablename__ = "vuln_packages"
    __table_args__ = (Index("ix_vuln_packages_lookup", "ecosystem", "name"),)

    record_id: Mapped[str] = mapped_column(
        ForeignKey("vuln_records.id", ondelete="CASCADE"), primary_key=True
    )
    ecosystem: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(400), primary_key=True)


class VulnDbImport(Base):
    __tablename__ = "vulndb_imports"

    #: Increases with every import: the database version.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source: Mapped[str] = mapped_column(String(400))
    added: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
