"""Engines and units of work, on SQLite or PostgreSQL.

SQLite runs in WAL mode with several worker processes writing one file. A deferred
transaction that later writes can fail at once with SQLITE_BUSY when another process
committed in between, so write units of work start with ``BEGIN IMMEDIATE`` and queue
on the busy timeout instead; read units stay deferred and never block writers.

PostgreSQL runs at READ COMMITTED through asyncpg. The pool pings a connection before
handing it out, so connections cut by a server restart are replaced on the next checkout
and a node recovers by itself. While the server cannot be reached, units of work raise
:class:`~dockyard.errors.UnavailableError` (503 at the faces), never a raw driver error.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from dockyard.errors import UnavailableError

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Inline readers block the event loop while they wait, so they wait briefly; in WAL mode
#: readers only wait during rare WAL recovery.
INLINE_READ_BUSY_TIMEOUT_MS = 2_000
SQLITE_POOL_SIZE = 16
SQLITE_POOL_OVERFLOW = 48
#: Seconds to establish a PostgreSQL connection, and to wait for a free pooled one.
PG_CONNECT_TIMEOUT = 5.0
PG_POOL_TIMEOUT = 10.0
#: Seconds one statement may run before the server cancels it (a stuck lock, a lost peer).
PG_STATEMENT_TIMEOUT = 60.0

#: SQLSTATEs meaning "the server is not there right now": class 08 (connection
#: exception) plus admin/crash shutdown, cannot-connect-now and too-many-connections.
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}
_UNAVAILABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


def database_url(url: str) -> str:
    """The async-driver URL for ``url``: what every engine of Dockyard is built from.

    ``postgres://`` and ``postgresql://`` select asyncpg (libpq's ``sslmode`` becomes
    asyncpg's ``ssl``); ``sqlite://`` selects aiosqlite. Explicit drivers are kept.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme in ("postgres", "postgresql"):
        parts = urlsplit("postgresql+asyncpg://" + rest)
        query = [("ssl" if k == "sslmode" else k, v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(query=urlencode(query)))
    if scheme == "sqlite":
        return "sqlite+aiosqlite://" + rest
    return url


def is_sqlite(url: str) -> bool:
    return database_url(url).startswith("sqlite")


def is_postgresql(url: str) -> bool:
    return database_url(url).startswith("postgresql")


def make_engine(url: str, *, immediate: bool = False, **kwargs: Any) -> AsyncEngine:
    url = database_url(url)
    if is_postgresql(url):
        return create_async_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=PG_POOL_TIMEOUT,
            connect_args={
                "timeout": PG_CONNECT_TIMEOUT,
                "server_settings": {
                    "statement_timeout": str(int(PG_STATEMENT_TIMEOUT * 1000)),
                    "application_name": "dockyard",
                },
            },
            **kwargs,
        )
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_async_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        # Each aiosqlite connection owns a thread: keep enough of them pooled that bursts
        # of concurrent requests never pay for creating one.
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_OVERFLOW,
        **kwargs,
    )

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


def make_inline_sqlite_engine(url: str) -> Engine:
    """Synchronous SQLite connections for read units of work run on the event loop.

    In WAL mode a reader never waits for a writer, and an indexed lookup costs tens of
    microseconds — less than handing each statement to aiosqlite's thread (several
    round trips per statement). So reads run inline; writes, which can wait on the
    write lock, stay on the async engine.
    """
    sync_url = url.replace("sqlite+aiosqlite", "sqlite", 1)
    engine = create_engine(
        sync_url,
        connect_args={"check_same_thread": False, "timeout": INLINE_READ_BUSY_TIMEOUT_MS / 1000},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_OVERFLOW,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={INLINE_READ_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


class _InlineReadSession:
    """The read surface of AsyncSession over a synchronous Session (see above)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def execute(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self._session.execute(statement, params, **kwargs)

    async def scalar(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self._session.scalar(statement, params, **kwargs)

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return self._session.get(entity, ident, **kwargs)

    def get_bind(self) -> Any:
        return self._session.get_bind()


class Database:
    """Owns the engines; hands out read and write units of work."""

    def __init__(self, url: str) -> None:
        self.url = database_url(url)
        self.dialect = "sqlite" if is_sqlite(self.url) else "postgresql"
        self.read_engine = make_engine(self.url)
        self.write_engine = (
            make_engine(self.url, immediate=True) if is_sqlite(self.url) else self.read_engine
        )
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self.inline_engine = make_inline_sqlite_engine(self.url) if is_sqlite(self.url) else None
        self._inline = (
            sessionmaker(self.inline_engine, expire_on_commit=False) if self.inline_engine else None
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (a consistent snapshot)."""
        try:
            if self._inline is not None:
                with self._inline() as sync_session, sync_session.begin():
                    # Query functions take AsyncSession; they only use its read surface.
                    yield cast(AsyncSession, _InlineReadSession(sync_session))
                return
            async with self._read() as session, session.begin():
                yield session
        except Exception as exc:
            if is_unavailable(exc):
                raise UnavailableError("metadata database unavailable") from exc
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block exits without an exception."""
        try:
            async with self._write() as session, session.begin():
                yield session
        except Exception as exc:
            if is_unavailable(exc):
                raise UnavailableError("metadata database unavailable") from exc
            raise

    async def dispose(self) -> None:
        if self.inline_engine is not None:
            self.inline_engine.dispose()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now (retrying later may work).

    Covers SQLAlchemy-wrapped driver errors and what connecting raises unwrapped:
    socket errors, connect timeouts and asyncpg's server errors (by SQLSTATE).
    """
    if isinstance(exc, UnavailableError):
        return False  # already classified
    if isinstance(exc, PoolTimeoutError):
        return True  # every pooled connection is busy or being re-established
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig: BaseException | None = exc.orig
        if orig is not None and orig is not exc and _unavailable_cause(orig):
            return True
        text = str(exc.orig).lower()
        return any(
            s in text
            for s in (
                "database is locked",
                "unable to open",
                "connection",
                "disk i/o",
                "the database system is",
            )
        )
    return _unavailable_cause(exc)


def _unavailable_cause(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
        ):
            return True
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if isinstance(current, OSError) and current.errno in _UNAVAILABLE_ERRNOS:
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in (
            "ConnectionDoesNotExistError",
            "InterfaceError",
            "InternalClientError",
        ):
            # asyncpg's "connection is closed / was closed in the middle of operation".
            return "connection" in str(current).lower() or "closed" in str(current).lower()
        current = current.__cause__ or current.__context__
    return False
