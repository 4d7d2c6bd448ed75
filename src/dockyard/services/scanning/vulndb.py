"""The deployment-wide offline vulnerability database: import OSV records, report its
state, and match installed packages against it.

An import reads everything first (a directory's ``*.json`` files, one ``.json`` holding a
record or a list of records, or one of OSV's per-ecosystem ``.zip`` exports) and validates
every record; only then does one transaction replace the records it names. A corrupt file
therefore imports nothing, and importing a newer export updates records in place. Nothing
here reaches the network.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import InvalidInputError
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import vulndb as q
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.scanning.matching import InstalledPackage, match_record
from dockyard.services.scanning.osv import OsvRecord, lookup_name, parse_record

IMPORT_ACTION = "cr:ImportVulnDb"
#: The job an import queues: every done scan matched again against the new database.
REMATCH_JOB_KIND = "vulndb-rematch"
#: The scanner name of findings the built-in scanner (syft and this database) made.
BUILTIN_SCANNER = "dockyard"
#: Bytes one record file of a zip may expand to (OSV records are a few KiB).
MAX_RECORD_BYTES = 16 * 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class ImportResult:
    version: int
    added: int
    updated: int
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class EcosystemCount:
    ecosystem: str
    records: int


@dataclass(frozen=True, slots=True)
class VulnDbStatus:
    #: The latest import's number (0: never imported); scans report the one they used.
    version: int
    imported_at: datetime | None
    records: int
    ecosystems: tuple[EcosystemCount, ...]


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One record affecting one installed package."""

    id: str
    aliases: tuple[str, ...]
    severity: str
    score: float | None
    package: str
    version: str
    ecosystem: str
    fixed_version: str | None
    summary: str
    #: Who found it: the built-in scanner or an external scanner's registered name.
    scanner: str = BUILTIN_SCANNER


def _json(data: bytes, where: str) -> object:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{where}: not JSON ({exc})") from None


def _documents(data: bytes, source: str) -> Iterator[tuple[object, str]]:
    """(document, where) for every record in an upload: a zip of JSON files or JSON."""
    if data.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.infolist():
                    if member.is_dir() or not member.filename.endswith(".json"):
                        continue
                    if member.file_size > MAX_RECORD_BYTES:
                        raise InvalidInputError(f"{member.filename}: larger than a record can be")
                    yield from _records_of(archive.read(member), member.filename)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise InvalidInputError(f"{source}: not a readable zip ({exc})") from None
        return
    yield from _records_of(data, source)


def _records_of(data: bytes, where: str) -> Iterator[tuple[object, str]]:
    document = _json(data, where)
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield item, f"{where}[{index}]"
    else:
        yield document, where


def parse_upload(data: bytes, source: str) -> list[OsvRecord]:
    """Every record of an upload, validated; the last of two with one id wins."""
    by_id: dict[str, OsvRecord] = {}
    for document, where in _documents(data, source):
        record = parse_record(document, where)
        by_id[record.id] = record
    if not by_id:
        raise InvalidInputError(f"{source}: no OSV records found")
    return list(by_id.values())


class VulnDbService:
    def __init__(self, db: Database, audit: AuditLog, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def import_records(
        self, data: bytes, source: str, *, actor: Actor | None, resource: str = "*"
    ) -> ImportResult:
        """Validate every record of ``data``, then replace them all in one transaction."""
        records = parse_upload(data, source[:400])
        now = self._clock.now()
        rows = [
            {
                "id": r.id,
                "modified": r.modified,
                "summary": r.summary,
                "aliases": list(r.aliases),
                "severity": r.severity,
                "score": r.score,
                "document": dict(r.document),
                "imported_at": now,
            }
            for r in records
        ]
        packages = [
            {"record_id": r.id, "ecosystem": ecosystem, "name": name}
            for r in records
            for ecosystem, name in r.packages
        ]
        async with self._db.write() as session:
            known = await q.existing_ids(session, [r.id for r in records])
            await q.replace_records(session, rows, packages)
            version = await q.add_import(
                session,
                actor=actor.name if actor else None,
                source=source[:400],
                added=len(records) - len(known),
                updated=len(known),
                imported_at=now,
            )
            jq.add_job(
                session,
                REMATCH_JOB_KIND,
                {"version": version},
                now,
                ordering_key=REMATCH_JOB_KIND,
            )
            if actor is not None:
                detail = {"source": source[:400], "added": len(records) - len(known)}
                detail["updated"] = len(known)
                await self._audit.add(
                    session, **actor.row(IMPORT_ACTION, "success", resource, detail)
                )
        return ImportResult(version, len(records) - len(known), len(known), now)

    async def status(self) -> VulnDbStatus:
        async with self._db.read() as session:
            latest = await q.latest_import(session)
            total = await q.record_count(session)
            counts = await q.counts_by_ecosystem(session)
        version, imported_at = latest if latest else (0, None)
        return VulnDbStatus(
            version, imported_at, total, tuple(EcosystemCount(*pair) for pair in counts)
        )

    async def match(self, packages: Sequence[InstalledPackage]) -> list[Vulnerability]:
        """Every record affecting one of ``packages``, sorted by record id then package."""
        keys = [
            (p.ecosystem, lookup_name(p.ecosystem, p.advisory_name))
            for p in packages
            if p.ecosystem is not None
        ]
        if not keys:
            return []
        async with self._db.read() as session:
            candidates = await q.records_naming(session, keys)
        found: list[Vulnerability] = []
        for record_id, document, severity, score, aliases, summary in candidates:
            for finding in match_record(record_id, document, packages):
                found.append(
                    Vulnerability(
                        record_id,
                        tuple(aliases),
                        severity,
                        score,
                        finding.package,
                        finding.version,
                        finding.ecosystem,
                        finding.fixed_version,
                        summary,
                    )
                )
        return sorted(found, key=lambda v: (v.id, v.package, v.version))
