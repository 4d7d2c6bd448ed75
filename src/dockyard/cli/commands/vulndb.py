"""``dockyard vulndb import|status``: the offline vulnerability database over the API."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import Call, command, print_json, print_record, print_table

app = typer.Typer(help="The offline vulnerability database (OSV records) scans match against.")

ZIP_MAGIC = b"PK\x03\x04"
IMPORTED = [("Version", "version"), ("Added", "added"), ("Updated", "updated")]
STATUS = [("Version", "version"), ("Imported", "importedAt"), ("Records", "records")]
COUNTS = [("Ecosystem", "ecosystem"), ("Records", "records")]


def _upload(path: Path) -> tuple[bytes, str]:
    """(body, content type): a directory's ``*.json`` files zipped (records are read from
    it as from an OSV export), a ``.zip`` or a ``.json`` as it is."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not files:
            raise CliError(f"{path}: no *.json files")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, str(file.relative_to(path)))
        return buffer.getvalue(), "application/zip"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    return data, "application/zip" if data.startswith(ZIP_MAGIC) else "application/json"


@command(app, "import")
def import_records(
    path: Annotated[
        Path, typer.Argument(help="A directory of OSV *.json records, one .json, or an OSV .zip")
    ],
    *,
    call: Call,
) -> None:
    """Import OSV records; nothing is stored if any record is bad, and known ones are
    replaced in place. No network access."""
    body, content_type = _upload(path)
    with call.api() as client:
        result: dict[str, Any] = client.call(
            "POST",
            "/vulndb/imports",
            content=body,
            params={"source": path.name or str(path)},
            headers={"Content-Type": content_type},
        )
    if call.as_json:
        print_json(result)
    else:
        print_record(result, IMPORTED)


@command(app, "status")
def status(*, call: Call) -> None:
    """Records per ecosystem, the database version and when it was last imported."""
    with call.api() as client:
        state: dict[str, Any] = client.call("GET", "/vulndb")
    if call.as_json:
        print_json(state)
        return
    print_record({**state, "importedAt": state["importedAt"] or "never"}, STATUS)
    print_table(state["ecosystems"], COUNTS)
