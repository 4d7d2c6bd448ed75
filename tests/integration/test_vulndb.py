"""The offline vulnerability database on SQLite and PostgreSQL: imports of a directory's
worth of records, a ``.json`` list and an OSV ``.zip`` export, re-imports in place, a
corrupt file importing nothing, the status counts and matching through the database."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Any

import pytest
from sqlalchemy import select

from dockyard.errors import InvalidInputError
from dockyard.metadata.models import Account, AuditEvent
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.scanning import InstalledPackage, VulnDbService

pytestmark = pytest.mark.integration

ADMIN = Actor("admin")


def osv(record_id: str, ecosystem: str, name: str, fixed: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "modified": "2026-11-01T00:00:00Z",
        "summary": f"{name} is vulnerable",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        **extra,
    }


def zipped(records: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return buffer.getvalue()


def run(url: str, steps: Any) -> None:
    async def main() -> None:
        db = Database(url)
        async with db.write() as session:
            session.add(Account(arn_id="1234567890123456", name="test"))
        try:
            await steps(VulnDbService(db, AuditLog(db)), db)
        finally:
            await db.dispose()

    asyncio.run(main())


def test_imports_count_per_ecosystem_and_reimports_update_in_place(url: str) -> None:
    async def steps(vulndb: VulnDbService, db: Database) -> None:
        assert (await vulndb.status()).version == 0
        debian = [
            osv("DSA-1", "Debian:12", "openssl", "3.0.12-1"),
            osv("DSA-2", "Debian:12", "zlib", "1:1.3-1"),
        ]
        first = await vulndb.import_records(zipped(debian), "Debian.zip", actor=ADMIN)
        assert (first.added, first.updated) == (2, 0)
        vector = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"
        pypi = osv(
            "GHSA-1",
            "PyPI",
            "Requests",
            "2.31.0",
            aliases=["CVE-2023-32681"],
            severity=[{"type": "CVSS_V3", "score": vector}],
        )
        second = await vulndb.import_records(json.dumps([pypi]).encode(), "ghsa.json", actor=ADMIN)
        assert second.version == first.version + 1
        status = await vulndb.status()
        assert status.records == 3
        assert [(e.ecosystem, e.records) for e in status.ecosystems] == [
            ("Debian:12", 2),
            ("PyPI", 1),
        ]
        assert status.imported_at == second.imported_at

        packages = [
            InstalledPackage("libssl3", "3.0.11-1", "Debian:12", "openssl"),
            InstalledPackage("zlib1g", "1:1.3-1", "Debian:12", "zlib"),
            InstalledPackage("requests", "2.30.0", "PyPI", "requests"),
        ]
        found = [
            (v.id, v.package, v.version, v.fixed_version, v.severity, v.aliases)
            for v in await vulndb.match(packages)
        ]
        assert found == [
            ("DSA-1", "libssl3", "3.0.11-1", "3.0.12-1", "UNKNOWN", ()),
            ("GHSA-1", "requests", "2.30.0", "2.31.0", "MEDIUM", ("CVE-2023-32681",)),
        ]  # fmt: skip

        # The advisory moves its fix below the installed version: re-import, no match.
        moved = osv("DSA-1", "Debian:12", "openssl", "3.0.10-1")
        again = await vulndb.import_records(json.dumps(moved).encode(), "DSA-1.json", actor=ADMIN)
        assert (again.added, again.updated) == (0, 1)
        assert (await vulndb.status()).records == 3
        assert [v.id for v in await vulndb.match(packages)] == ["GHSA-1"]
        async with db.read() as session:
            rows = await session.execute(
                select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail).order_by(
                    AuditEvent.at
                )
            )
        assert [tuple(row) for row in rows] == [
            ("admin", "cr:ImportVulnDb", {"source": "Debian.zip", "added": 2, "updated": 0}),
            ("admin", "cr:ImportVulnDb", {"source": "ghsa.json", "added": 1, "updated": 0}),
            ("admin", "cr:ImportVulnDb", {"source": "DSA-1.json", "added": 0, "updated": 1}),
        ]

    run(url, steps)


def test_a_corrupt_file_imports_nothing(url: str) -> None:
    async def steps(vulndb: VulnDbService, db: Database) -> None:
        good = osv("GHSA-2", "npm", "lodash", "4.17.21")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as out:
            out.writestr("GHSA-2.json", json.dumps(good))
            out.writestr("broken.json", '{"id": "GHSA-3", "modified": ')
        with pytest.raises(InvalidInputError, match=r"broken\.json: not JSON"):
            await vulndb.import_records(archive.getvalue(), "npm.zip", actor=ADMIN)
        with pytest.raises(InvalidInputError, match="not a readable zip"):
            await vulndb.import_records(zipped([good])[:-30], "npm.zip", actor=ADMIN)
        with pytest.raises(InvalidInputError, match="no OSV records"):
            await vulndb.import_records(b"[]", "empty.json", actor=ADMIN)
        status = await vulndb.status()
        assert (status.version, status.records, status.ecosystems) == (0, 0, ())

    run(url, steps)
