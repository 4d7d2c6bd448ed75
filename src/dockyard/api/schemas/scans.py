"""Image scans: state, packages, vulnerabilities and counts per severity."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel


class ScanPackageOut(ApiModel):
    name: str
    version: str
    type: str = Field(description="syft's package type: deb, apk, python, npm, go-module, …")
    purl: str
    layer: str | None = Field(description="The digest of the layer holding it")
    ecosystem: str | None = Field(description="The OSV ecosystem matched in; null: not matched")


class ScanFindingOut(ApiModel):
    id: str = Field(description="The OSV record's id")
    aliases: list[str] = Field(description="Other ids of it (CVE-…)")
    severity: str = Field(description="CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN")
    score: float | None = Field(description="CVSS base score, when the record has a vector")
    package: str
    version: str
    ecosystem: str
    fixed_version: str | None
    summary: str
    scanner: str = Field(description="`dockyard` (built in) or an external scanner's name")


class ScanOut(ApiModel):
    repository: str
    digest: str
    state: str = Field(description="queued, scanning, done or failed")
    reason: str | None = Field(description="Why a failed scan failed")
    db_version: int | None = Field(description="The vulnerability database version matched")
    sbom_digest: str | None = Field(description="The SBOM referrer's manifest digest")
    os: str | None = Field(description="The image's OS as an OSV ecosystem (`Debian:12`)")
    counts: dict[str, int] = Field(description="Vulnerabilities per severity (all of them)")
    packages: list[ScanPackageOut]
    vulnerabilities: list[ScanFindingOut] = Field(
        description="Those of the severity asked for or more"
    )
    queued_at: datetime
    finished_at: datetime | None


class AllowedIdModel(ApiModel):
    id: str = Field(max_length=200, description="A vulnerability id or alias (CVE-…)")
    expires: date | None = Field(default=None, description="Last day it is ignored")


class ScanPolicyIn(RequestModel):
    scan_on_push: bool = False
    block_severity: str | None = Field(
        default=None,
        pattern="^(?i:critical|high|medium|low)$",
        description="Refuse pulls of images with a vulnerability of this severity or more",
    )
    block_unscanned: bool = Field(default=False, description="Refuse pulls of unscanned images")
    allowlist: list[AllowedIdModel] = Field(default_factory=list, max_length=500)


class ScanPolicyOut(ApiModel):
    namespace: str
    scan_on_push: bool
    block_severity: str | None
    block_unscanned: bool
    allowlist: list[AllowedIdModel]


class ScanBatchOut(ApiModel):
    digest: str = Field(description="The manifest the reference names")
    media_type: str = Field(description="An image manifest's or an index's media type")
    scans: list[ScanOut] = Field(description="The image's scan, or one per platform image")


class ScannerIn(RequestModel):
    url: str = Field(max_length=2000, description="The scanner adapter's base URL")
    registry_url: str = Field(
        max_length=2000,
        description="This registry's base URL as the adapter reaches it (it pulls from there)",
    )
    authorization: str | None = Field(
        default=None,
        max_length=4000,
        description="The Authorization header value sent to the adapter (`Bearer …`, "
        "`Basic …`); stored encrypted, never returned",
    )
    instead_of_builtin: bool = Field(
        default=False,
        description="Scan with this adapter instead of the built-in scanner (no SBOM, no "
        "package list); false: besides it",
    )


class ScannerOut(ApiModel):
    name: str
    url: str
    registry_url: str
    has_authorization: bool
    instead_of_builtin: bool
    adapter_name: str = Field(description="The scanner as the adapter's metadata names it")
    adapter_vendor: str
    adapter_version: str
    report_type: str = Field(description="The report media type asked for")
    created_at: datetime
