"""External scanners: scanner adapters speaking Harbor's Pluggable Scanner API (v1.1),
used instead of or besides the built-in scanner.

An administrator registers an adapter by name (deployment-wide, like the vulnerability
database); registering reads the adapter's metadata and refuses one that does not scan
image manifests into a Harbor vulnerability report. When a scan runs, each registered
adapter is asked to scan the image (``POST /api/v1/scan`` with the registry's URL, a
short-lived pull token for the image's repository and the image's digest) and its report
is polled (``GET /api/v1/scan/{id}/report``; ``302`` with ``Refresh-After`` means "not
yet") until it arrives or :data:`SCAN_TIMEOUT` passes. Its vulnerabilities join the scan's
result, each naming the scanner that found it. The HTTP side is an :class:`AdapterClient`
(``dockyard.outbound.scanner_adapter``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.metadata.queries import scanners as q
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.scanning.osv import CRITICAL, HIGH, LOW, MEDIUM, UNKNOWN
from dockyard.services.scanning.vulndb import Vulnerability
from dockyard.services.secrets import MasterKey
from dockyard.services.tenancy import RepositoryRef

CREATE_ACTION = "cr:CreateExternalScanner"
DELETE_ACTION = "cr:DeleteExternalScanner"
AUTHORIZATION_PURPOSE = "external-scanner-authorization"
#: The image manifests an adapter must consume to be of use.
CONSUMED = (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST)
#: Report types read, most preferred first (the v1.1 Harbor report, then v1.0's).
REPORT_TYPES = (
    "application/vnd.security.vulnerability.report; version=1.1",
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.1",
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
)
#: Seconds one adapter may take to report on one image before the scan fails.
SCAN_TIMEOUT = 600.0
#: Bounds on an adapter's ``Refresh-After`` (seconds).
MIN_REFRESH, MAX_REFRESH = 0.2, 30.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: Harbor's severities in ours (``Negligible`` is below Low: counted as Low).
_SEVERITY = {
    "critical": CRITICAL,
    "high": HIGH,
    "medium": MEDIUM,
    "low": LOW,
    "negligible": LOW,
    "unknown": UNKNOWN,
}


class ExternalScanError(Exception):
    """An adapter failed, refused or did not report; the message is the scan's reason."""


@dataclass(frozen=True, slots=True)
class AdapterEndpoint:
    url: str
    #: The ``Authorization`` value sent to the adapter (None: none).
    authorization: str | None


class AdapterClient(Protocol):
    """The HTTP side of the Pluggable Scanner API; raises :class:`ExternalScanError`."""

    async def metadata(self, endpoint: AdapterEndpoint) -> Mapping[str, Any]: ...

    async def submit(self, endpoint: AdapterEndpoint, request: Mapping[str, Any]) -> str:
        """Ask for a scan; the scan request's id."""
        ...

    async def report(
        self, endpoint: AdapterEndpoint, request_id: str, report_type: str
    ) -> Mapping[str, Any] | float:
        """The report, or the seconds to wait before asking again."""
        ...


@dataclass(frozen=True, slots=True)
class ScannerSpec:
    url: str
    #: The registry's base URL as the adapter reaches it.
    registry_url: str
    authorization: str | None = None
    instead_of_builtin: bool = False


@dataclass(frozen=True, slots=True)
class ScannerView:
    name: str
    url: str
    registry_url: str
    has_authorization: bool
    instead_of_builtin: bool
    #: The adapter's scanner as its metadata names it.
    adapter_name: str
    adapter_vendor: str
    adapter_version: str
    report_type: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration as a scan uses it (the authorization decrypted)."""

    name: str
    endpoint: AdapterEndpoint
    registry_url: str
    instead_of_builtin: bool
    report_type: str


#: The ``Authorization`` value that lets an adapter pull one repository's images.
PullAuthorization = Callable[[RepositoryRef], Awaitable[str]]


def report_type_of(metadata: Mapping[str, Any]) -> str:
    """The report type to ask for: one this reads, from a capability consuming images."""
    produced: set[str] = set()
    for capability in metadata.get("capabilities") or ():
        if not isinstance(capability, Mapping):
            continue
        if set(CONSUMED) & set(capability.get("consumes_mime_types") or ()):
            produced |= {str(t) for t in capability.get("produces_mime_types") or ()}
    for wanted in REPORT_TYPES:
        if wanted in produced:
            return wanted
    raise ExternalScanError(
        "the adapter has no capability that consumes image manifests and produces a "
        f"Harbor vulnerability report ({', '.join(REPORT_TYPES)})"
    )


def _score(item: Mapping[str, Any]) -> float | None:
    preferred = item.get("preferred_cvss") or {}
    for value in (
        preferred.get("score_v3") if isinstance(preferred, Mapping) else None,
        item.get("cve3_score"),
        item.get("cvss3_score"),
    ):
        if value in (None, ""):
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def findings_of(report: Mapping[str, Any], scanner: str) -> list[Vulnerability]:
    """A Harbor vulnerability report's items as vulnerabilities found by ``scanner``."""
    items = report.get("vulnerabilities")
    if not isinstance(items, list):
        raise ExternalScanError("the report has no vulnerabilities list")
    found = []
    for item in items:
        if not isinstance(item, Mapping) or not item.get("id"):
            raise ExternalScanError(f"a report item without an id: {str(item)[:200]}")
        vuln_id = str(item["id"])
        found.append(
            Vulnerability(
                vuln_id,
                (vuln_id,) if vuln_id.startswith("CVE-") else (),
                _SEVERITY.get(str(item.get("severity", "")).lower(), UNKNOWN),
                _score(item),
                str(item.get("package", "")),
                str(item.get("version", "")),
                "",
                str(item.get("fix_version")) if item.get("fix_version") else None,
                str(item.get("description", ""))[:2000],
                scanner,
            )
        )
    return sorted(found, key=lambda v: (v.id, v.package, v.version))


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"the {what} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


class ExternalScanners:
    """Registrations of scanner adapters, and scans of images with them."""

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        audit: AuditLog,
        client: AdapterClient,
        *,
        pull_authorization: PullAuthorization | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._master = master
        self._audit = audit
        self._client = client
        self._pull_authorization = pull_authorization
        self._clock = clock

    async def register(
        self, name: str, spec: ScannerSpec, *, actor: Actor | None, resource: str
    ) -> ScannerView:
        """Register (or replace) the adapter ``name`` after reading its metadata."""
        if not _NAME.match(name):
            raise InvalidInputError(
                f"{name!r} is not a scanner name (lower-case letters, digits and -, at most 63)"
            )
        url = _check_url(spec.url, "scanner adapter URL")
        registry_url = _check_url(spec.registry_url, "registry URL")
        try:
            metadata = await self._client.metadata(AdapterEndpoint(url, spec.authorization))
            report_type = report_type_of(metadata)
        except ExternalScanError as exc:
            raise InvalidInputError(f"scanner adapter {url}: {exc}") from None
        scanner = metadata.get("scanner") or {}
        adapter = {
            "name": str(scanner.get("name", "")),
            "vendor": str(scanner.get("vendor", "")),
            "version": str(scanner.get("version", "")),
            "reportType": report_type,
        }
        secret = (
            self._master.encrypt(spec.authorization.encode(), AUTHORIZATION_PURPOSE)
            if spec.authorization
            else None
        )
        async with self._db.write() as session:
            await q.save_scanner(
                session,
                name,
                url=url,
                registry_url=registry_url,
                authorization_encrypted=secret,
                instead_of_builtin=spec.instead_of_builtin,
                adapter=adapter,
                created_at=self._clock.now(),
            )
            detail = {"scanner": name, "url": url, "insteadOfBuiltin": spec.instead_of_builtin}
            await self._audit.change(session, actor, CREATE_ACTION, resource, detail)
        return next(v for v in await self.list_scanners() if v.name == name)

    async def list_scanners(self) -> list[ScannerView]:
        async with self._db.read() as session:
            rows = await q.list_scanners(session)
        return [
            ScannerView(
                row.name,
                row.url,
                row.registry_url,
                row.authorization_encrypted is not None,
                row.instead_of_builtin,
                row.adapter.get("name", ""),
                row.adapter.get("vendor", ""),
                row.adapter.get("version", ""),
                row.adapter.get("reportType", ""),
                row.created_at,
            )
            for row in rows
        ]

    async def delete(self, name: str, *, actor: Actor | None, resource: str) -> None:
        async with self._db.write() as session:
            if not await q.delete_scanner(session, name):
                raise NotFoundError(f"no external scanner named {name}")
            await self._audit.change(session, actor, DELETE_ACTION, resource, {"scanner": name})

    async def registrations(self) -> list[Registration]:
        async with self._db.read() as session:
            rows = await q.list_scanners(session)
        return [
            Registration(
                row.name,
                AdapterEndpoint(
                    row.url,
                    self._master.decrypt(
                        row.authorization_encrypted, AUTHORIZATION_PURPOSE
                    ).decode()
                    if row.authorization_encrypted
                    else None,
                ),
                row.registry_url,
                row.instead_of_builtin,
                str(row.adapter.get("reportType", REPORT_TYPES[-1])),
            )
            for row in rows
        ]

    async def scan(
        self, registration: Registration, repo: RepositoryRef, digest: str, media_type: str
    ) -> list[Vulnerability]:
        """Have the adapter scan the image and wait for its report."""
        if self._pull_authorization is None:
            raise ExternalScanError("this process cannot issue pull tokens for adapters")
        request = {
            "registry": {
                "url": registration.registry_url,
                "authorization": await self._pull_authorization(repo),
            },
            "artifact": {"repository": repo.full_name, "digest": digest, "mime_type": media_type},
        }
        where = f"scanner {registration.name}"
        try:
            request_id = await self._client.submit(registration.endpoint, request)
            deadline = time.monotonic() + SCAN_TIMEOUT
            while True:
                answer = await self._client.report(
                    registration.endpoint, request_id, registration.report_type
                )
                if isinstance(answer, Mapping):
                    return findings_of(answer, registration.name)
                if time.monotonic() + answer > deadline:
                    raise ExternalScanError(f"no report within {SCAN_TIMEOUT:.0f} s")
                await asyncio.sleep(min(max(answer, MIN_REFRESH), MAX_REFRESH))
        except ExternalScanError as exc:
            raise ExternalScanError(f"{where}: {exc}") from None


def merged(found: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Stored findings of several scanners in one order: id, package, version, scanner."""
    return sorted(found, key=lambda v: (v["id"], v["package"], v["version"], v.get("scanner", "")))
