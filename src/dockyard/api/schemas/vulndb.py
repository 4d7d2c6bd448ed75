"""The offline vulnerability database (deployment-wide)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from dockyard.api.schemas.common import ApiModel


class VulnDbImportOut(ApiModel):
    version: int = Field(description="The database version this import made (scans report it)")
    added: int = Field(description="Records new to the database")
    updated: int = Field(description="Records replaced in place")
    imported_at: datetime


class EcosystemCountOut(ApiModel):
    ecosystem: str = Field(description="As the records spell it: `PyPI`, `Debian:12`, …")
    records: int


class VulnDbStatusOut(ApiModel):
    version: int = Field(description="The latest import's number; 0 before the first")
    imported_at: datetime | None
    records: int
    ecosystems: list[EcosystemCountOut]
