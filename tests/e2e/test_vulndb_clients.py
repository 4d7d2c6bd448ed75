"""``dockyard vulndb import|status`` against a fresh server: a directory of OSV records, an
OSV ``.zip`` export re-imported with a changed record, and a corrupt file that imports
nothing; the counts per ecosystem are exact (the database is the deployment's own)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ServerFactory
from tests.dockyard_cli import Cli

pytestmark = pytest.mark.e2e


def osv(record_id: str, ecosystem: str, name: str, fixed: str) -> dict[str, Any]:
    events = [{"introduced": "0"}, {"fixed": fixed}]
    return {
        "id": record_id,
        "modified": "2026-11-01T00:00:00Z",
        "aliases": [f"CVE-2026-{record_id[-4:]}"],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


def test_import_a_directory_a_zip_and_refuse_a_corrupt_file(
    fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    server = fresh_registry()
    cli = Cli(tmp_path / "cli")
    cli.login(server.url, *server.admin)
    assert cli.json("vulndb", "status") == {
        "version": 0,
        "importedAt": None,
        "records": 0,
        "ecosystems": [],
    }

    records = tmp_path / "osv"
    (records / "debian").mkdir(parents=True)
    (records / "debian" / "DSA-0001.json").write_text(
        json.dumps(osv("DSA-0001", "Debian:12", "openssl", "3.0.12-1"))
    )
    (records / "GHSA-0002.json").write_text(json.dumps(osv("GHSA-0002", "PyPI", "jinja2", "3.1.3")))
    first = cli.json("vulndb", "import", str(records))
    assert (first["version"], first["added"], first["updated"]) == (1, 2, 0)

    export = tmp_path / "npm.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("GHSA-0003.json", json.dumps(osv("GHSA-0003", "npm", "lodash", "4.17.21")))
        archive.writestr("GHSA-0002.json", json.dumps(osv("GHSA-0002", "PyPI", "jinja2", "3.1.4")))
    second = cli.json("vulndb", "import", str(export))
    assert (second["version"], second["added"], second["updated"]) == (2, 1, 1)

    corrupt = tmp_path / "bad.json"
    corrupt.write_text('[{"id": "GHSA-0004", "modified": "x"}, {"id": 5}]')
    refused = cli.run("vulndb", "import", str(corrupt), expect=None)
    assert refused.code != 0
    assert "bad.json[1]: 'id' must be a non-empty string" in refused.stderr

    status = cli.json("vulndb", "status")
    assert (status["version"], status["records"]) == (2, 3)
    assert status["importedAt"] == second["importedAt"]
    assert status["ecosystems"] == [
        {"ecosystem": "Debian:12", "records": 1},
        {"ecosystem": "PyPI", "records": 1},
        {"ecosystem": "npm", "records": 1},
    ]
    table = cli.run("vulndb", "status").stdout
    assert "Debian:12" in table and "npm" in table
