"""Engines and units of work.

SQLite runs in WAL mode with several worker processes writing one file. A deferred
transaction that later writes can fail at once with SQLITE_BUSY when another process
committed in between, so write units of work start with ``BEGIN IMMEDIATE`` and queue
on the busy timeout instead; read units stay deferred and never block writers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dockyard.errors import UnavailableError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, immediate: bool = False) -> AsyncEngine:
    if not _is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the driver so we choose how BEGIN is issued.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Owns the engines; hands out read and write units of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.read_engine = make_engine(url)
        self.write_engine = (
            make_engine(url, immediate=True) if _is_sqlite(url) else self.read_engine
        )
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._read() as session, session.begin():
                yield session
        except (OperationalError, DBAPIError) as exc:
            if _is_unavailable(exc):
                raise UnavailableError("metadata database unavailable") from exc
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block exits without an exception."""
        try:
            async with self._write() as session, session.begin():
                yield session
        except (OperationalError, DBAPIError) as exc:
            if _is_unavailable(exc):
                raise UnavailableError("metadata database unavailable") from exc
            raise

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()


def _is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(
        s in text for s in ("database is locked", "unable to open", "connection", "disk i/o")
    )
