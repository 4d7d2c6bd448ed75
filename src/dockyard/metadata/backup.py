"""An online, consistent copy of the metadata database (``dockyard db backup``).

* SQLite: SQLite's online backup API copies the database in one step while holding a
  read transaction, so the copy is one consistent snapshot even while workers write (WAL).
  The result is an ordinary database file, written next to the target and renamed into
  place only when complete.
* PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot too; restore it with
  ``pg_restore``). When ``pg_dump`` is not on PATH the command says so and exits 2.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from dockyard.errors import BackupError
from dockyard.metadata.session import database_url, is_sqlite

#: How long the SQLite copy waits for a writer's lock before giving up (seconds).
SQLITE_LOCK_TIMEOUT = 60.0


def backup_database(url: str, target: Path) -> str:
    """Back up the database at ``url`` into ``target``; returns a one-line summary."""
    if is_sqlite(url):
        return _backup_sqlite(url, target)
    if make_url(database_url(url)).get_backend_name() == "postgresql":
        return _backup_postgresql(url, target)
    raise BackupError(f"no backup method for {make_url(url).get_backend_name()}", 2)


def _backup_sqlite(url: str, target: Path) -> str:
    source = make_url(database_url(url)).database
    if not source or source == ":memory:" or not Path(source).exists():
        raise BackupError(f"SQLite database {source!r} not found", 2)
    target = target.resolve()
    if target == Path(source).resolve():
        raise BackupError("the backup target is the live database itself", 2)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    # Read-only URI: the backup never creates or changes the live database.
    src = sqlite3.connect(
        f"{Path(source).resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_LOCK_TIMEOUT
    )
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            check = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"SQLite backup failed: {exc}") from exc
    finally:
        src.close()
    if not check or check[0] != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the backup copy fails its integrity check: {check}")
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, target)
    return f"SQLite database backed up to {target} ({target.stat().st_size} bytes)"


def _libpq_url(url: str) -> str:
    """The URL as libpq (pg_dump) spells it: no driver name, ``sslmode`` not ``ssl``."""
    parsed = make_url(database_url(url)).set(drivername="postgresql")
    query = dict(parsed.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    return parsed.set(query=query).render_as_string(hide_password=False)


def _backup_postgresql(url: str, target: Path) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(
            "pg_dump is not installed: PostgreSQL is backed up with its own tools, "
            "e.g. `pg_dump --format=custom --file BACKUP DATABASE_URL` (see "
            "docs/operations.md)",
            2,
        )
    target = target.resolve()
    partial = target.with_name(f".{target.name}.partial")
    result = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--file", str(partial), _libpq_url(url)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed ({result.returncode}): {result.stderr.strip()}")
    os.replace(partial, target)
    return (
        f"PostgreSQL database dumped to {target} ({target.stat().st_size} bytes; "
        "restore with pg_restore)"
    )
