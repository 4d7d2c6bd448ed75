"""Schema migrations through Alembic, driven programmatically so the package is self-contained.

Alembic runs on the same async drivers as the server (aiosqlite, asyncpg): each command
opens one async connection and runs Alembic's synchronous code on it through
``connection.run_sync``, so no second, synchronous database driver is needed. The
connection is handed to ``migrations/env.py`` in ``config.attributes["connection"]``.

On PostgreSQL, upgrades and downgrades hold a transaction-scoped advisory lock, so nodes
started at once apply each migration exactly once (the later ones find nothing to do).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, NullPool, event
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.metadata.session import database_url, ensure_wal, is_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: ``pg_advisory_xact_lock`` key serialising schema changes across nodes ("dockyard").
MIGRATION_LOCK_KEY = 0x646F636B79617264

T = TypeVar("T")


@dataclass(frozen=True)
class AppliedMigration:
    """One migration an upgrade ran: what the CLI reports instead of Alembic's own lines."""

    revision: str
    description: str


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is an INI file: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def _run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_fn())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="dockyard-migrate")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _wal_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    ensure_wal(cursor)
    cursor.close()


def run_with_connection(url: str, fn: Callable[[Connection], T]) -> T:
    """Call ``fn`` with a synchronous-API connection over the async driver, then commit."""

    async def main() -> T:
        engine = create_async_engine(database_url(url), poolclass=NullPool)
        if is_sqlite(url):
            # The schema's first connection puts the file in WAL mode, before any worker
            # opens it (changing modes later would have to wait for every writer).
            event.listen(engine.sync_engine, "connect", _wal_on_connect)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return _run(main)


def _command(url: str, fn: Callable[[Config], None]) -> None:
    def apply(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        fn(config)

    run_with_connection(url, apply)


def upgrade(url: str, revision: str = "head") -> list[AppliedMigration]:
    """Upgrade to ``revision``; return the migrations this call ran, oldest first.

    On PostgreSQL a node that found another node's upgrade done returns an empty list.
    """
    applied: list[AppliedMigration] = []

    def record(*, step: MigrationInfo, **_: Any) -> None:
        script = step.up_revision
        if step.is_upgrade and not step.is_stamp and isinstance(script, Script):
            applied.append(AppliedMigration(script.revision, script.doc))

    def run(config: Config) -> None:
        config.attributes["on_version_apply"] = record
        command.upgrade(config, revision)

    _command(url, run)
    return applied


def downgrade(url: str, revision: str) -> None:
    _command(url, lambda config: command.downgrade(config, revision))


def current_heads(url: str) -> tuple[str, ...]:
    return run_with_connection(
        url, lambda conn: MigrationContext.configure(conn).get_current_heads()
    )


def pending_revisions(url: str) -> list[str]:
    """Revisions between the database's current one and head (empty when up to date)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    current = current_heads(url)
    heads = set(script.get_heads())
    if set(current) == heads:
        return []
    pending = []
    for rev in script.walk_revisions():
        if rev.revision in current:
            break
        pending.append(rev.revision)
    return pending


def is_empty(url: str) -> bool:
    return not current_heads(url)
