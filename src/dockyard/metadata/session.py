"""Engines and units of work, on SQLite or PostgreSQL.

SQLite runs in WAL mode with several worker processes writing one file. A deferred
transaction that later writes can fail at once with SQLITE_BUSY when another process
committed in between, so write units of work start with ``BEGIN IMMEDIATE`` and queue
on the busy timeout instead; read units stay deferred and never block writers.

On SQLite, units of work run inline on the event loop over synchronous connections:
handing every statement to aiosqlite's thread cost more CPU than the statements. A unit
is a plain ``Connection`` (an ORM ``Session`` joins it only when the unit uses entities);
each process keeps its write connection, and one read connection per thread for
single-statement reads, open between units. Reads never wait in WAL mode. Writers queue
before they reach SQLite, whose busy handler polls with sleeps of up to 100 ms: first on
this process's asyncio lock, then on an exclusive ``flock`` of ``<database>-writers`` that
every worker takes (waited for in a thread, and handed over by the kernel the moment it
is released). Then ``BEGIN IMMEDIATE`` runs without waiting; only a writer outside that
queue (a CLI command) can make it busy, and then the unit falls back to aiosqlite, which
waits on SQLite's lock in its thread.

Inline commits are group commits. They run with ``synchronous=NORMAL`` (the WAL is
written, not synced) and release both locks; a durable unit then waits, off the loop,
for an fsync of the WAL file that started after its commit. One fsync covers every unit
committed before it began, and the next writer does not wait for the disk meanwhile.
Nothing committed is lost when a process dies. After a power cut, units whose WAL sync
had not finished may be gone: none of them had returned to its caller, though another
request may have read their rows in the meantime (as with any group commit).

PostgreSQL runs at READ COMMITTED through asyncpg. The pool pings a connection before
handing it out, so connections cut by a server restart are replaced on the next checkout
and a node recovers by itself. While the server cannot be reached, units of work raise
:class:`~dockyard.errors.UnavailableError` (503 at the faces), never a raw driver error.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import functools
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, Engine, Insert, Select, Update, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable

from dockyard.errors import UnavailableError

E = TypeVar("E", bound=Executable)

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
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        ensure_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def ensure_wal(cursor: Any) -> None:
    """Switch the file to WAL unless it already is (the mode is stored in the file).

    Whichever connection opens the database first sets it, before any worker writes:
    switching modes wants an exclusive lock, so asking again under load would fail.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")


def make_inline_sqlite_engine(url: str, *, write: bool = False) -> Engine:
    """Synchronous SQLite connections for units of work run on the event loop.

    An indexed lookup or a small write costs tens of microseconds, less than handing each
    statement to aiosqlite's thread (several round trips per statement). Readers wait
    briefly (in WAL mode only during rare WAL recovery); writers never wait here: their
    ``BEGIN IMMEDIATE`` fails at once when another process writes (see :class:`Database`).
    """
    sync_url = url.replace("sqlite+aiosqlite", "sqlite", 1)
    busy_ms = 0 if write else INLINE_READ_BUSY_TIMEOUT_MS
    engine = create_engine(
        sync_url,
        connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_OVERFLOW,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={INLINE_READ_BUSY_TIMEOUT_MS}")
        ensure_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if write:
            # The commit writes the WAL without syncing it: durable units wait for a
            # group fsync of the WAL instead (:class:`_WalSync`).
            cursor.execute("PRAGMA synchronous=NORMAL")
        else:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight on the driver: SQLAlchemy's statement path costs more than the BEGIN.
        try:
            conn.connection.driver_connection.execute(begin)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(begin, (), exc, sqlite3.Error) from exc

    return engine


_PREPARED = "dockyard_prepared"
_Processor = Callable[[Any], Any] | None


def prepared(statement: E) -> E:
    """Mark a Core statement built once (a module constant) for the SQLite fast path.

    In an inline SQLite unit of work it is compiled once per set of parameter names and
    run on the DBAPI cursor: a third of the CPU of SQLAlchemy's execution path, which
    the write path of a small push pays about 17 times. Elsewhere it runs as usual.
    """
    return statement.execution_options(**{_PREPARED: True})


@dataclass(frozen=True, slots=True)
class DbapiStatement:
    """A statement compiled for one dialect: SQL text, positional bind names and the
    type processors SQLAlchemy itself would apply to parameters and result columns."""

    sql: str
    #: Per positional parameter: its bind name and the type's processor (None: as is).
    plan: tuple[tuple[str, _Processor], ...]
    defaults: dict[str, Any]
    results: tuple[_Processor, ...]
    keys: tuple[str, ...]
    #: Result metadata: immutable, so one serves every execution.
    metadata: SimpleResultMetaData

    @classmethod
    def compile(
        cls, statement: Any, dialect: Any, column_keys: Sequence[str] | None = None
    ) -> DbapiStatement:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if "POSTCOMPILE" in str(compiled):
            raise ValueError("no expanding (IN list) parameters on the DBAPI path")
        binds: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds[name] = processor
        columns = list(statement.selected_columns) if isinstance(statement, Select) else []
        keys = tuple(str(c.key) for c in columns)
        return cls(
            str(compiled),
            tuple((name, binds.get(name)) for name in compiled.positiontup or ()),
            dict(compiled.params),
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
            keys,
            SimpleResultMetaData(keys),
        )

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        defaults = self.defaults
        out = []
        for name, process in self.plan:
            value = params[name] if name in params else defaults[name]
            out.append(value if process is None else process(value))
        return out

    def run(
        self, raw: sqlite3.Connection, params: Mapping[str, Any]
    ) -> tuple[list[tuple[Any, ...]], int]:
        """Execute on a DBAPI connection: converted rows and the row count. Driver errors
        are re-raised as the exception classes SQLAlchemy raises (IntegrityError, …)."""
        args = self.arguments(params)
        cursor = raw.cursor()
        try:
            cursor.execute(self.sql, args)
            rows = cursor.fetchall()
            rowcount = cursor.rowcount
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
        return self.convert(rows), rowcount

    def convert(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        out = []
        for row in rows:
            pairs = zip(self.results, row, strict=True)
            out.append(tuple(p(v) if p is not None and v is not None else v for p, v in pairs))
        return out


_DBAPI_STATEMENTS: dict[tuple[Any, frozenset[str]], DbapiStatement] = {}


class _DbapiResult(IteratorResult[Any]):
    def __init__(
        self, metadata: SimpleResultMetaData, rows: list[tuple[Any, ...]], rowcount: int
    ) -> None:
        super().__init__(metadata, iter(rows))
        self.rowcount = rowcount


def _run_prepared(
    connection: Connection, raw: sqlite3.Connection, statement: Any, params: dict[str, Any]
) -> Any:
    key = (statement, frozenset(params))
    compiled = _DBAPI_STATEMENTS.get(key)
    if compiled is None:
        dml_keys = sorted(params) if isinstance(statement, Insert | Update) else None
        compiled = _DBAPI_STATEMENTS[key] = DbapiStatement.compile(
            statement, connection.dialect, dml_keys
        )
    rows, rowcount = compiled.run(raw, params)
    return _DbapiResult(compiled.metadata, rows, rowcount)


class _InlineSession:
    """The surface of AsyncSession the query functions use, over one synchronous connection.

    Core statements run on the connection itself. An ORM Session, joined to the
    connection's transaction, is made only when a unit uses ORM entities: creating it,
    checking out through it and committing through it cost more than a small unit's
    statements.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._raw: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        self._orm: Session | None = None

    @property
    def _session(self) -> Session:
        if self._orm is None:
            self._orm = Session(
                bind=self._connection,
                expire_on_commit=False,
                join_transaction_mode="rollback_only",
            )
        return self._orm

    async def execute(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        orm = self._orm
        if orm is not None and (orm.new or orm.dirty or orm.deleted):
            orm.flush()  # as the session's autoflush would, before a Core statement
        if (
            not kwargs
            and isinstance(params, dict)
            and statement.get_execution_options().get(_PREPARED)
        ):
            return _run_prepared(self._connection, self._raw, statement, params)
        if kwargs or getattr(statement, "_propagate_attrs", None):
            return self._session.execute(statement, params, **kwargs)  # ORM entities
        return self._connection.execute(statement, params)

    async def scalar(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self._session.scalar(statement, params, **kwargs)

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return self._session.get(entity, ident, **kwargs)

    async def flush(self, objects: Any = None) -> None:
        if self._orm is not None:
            self._orm.flush(objects)

    async def delete(self, instance: Any) -> None:
        self._session.delete(instance)

    def add(self, instance: Any) -> None:
        self._session.add(instance)

    def add_all(self, instances: Any) -> None:
        self._session.add_all(instances)

    def get_bind(self) -> Any:
        return self._connection

    def finish(self) -> None:
        """Write what the ORM still holds; the transaction stays the connection's."""
        if self._orm is not None:
            self._orm.flush()

    def close(self) -> None:
        if self._orm is not None:
            self._orm.close()  # "rollback_only": closing leaves the transaction alone


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class _WalSync:
    """Group commit for inline SQLite writers: fsyncs of the WAL file, in a thread.

    A waiter takes a ticket after its commit; an fsync covers every ticket issued before
    it started, so a waiter whose commit came after the running fsync began waits for
    the next one, which a single waiter starts for everyone waiting then.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._issued = 0
        self._synced = 0
        self._running: tuple[asyncio.Future[None], int] | None = None

    async def wait(self) -> None:
        self._issued += 1
        ticket = self._issued
        while self._synced < ticket:
            if self._running is None:
                future = asyncio.get_running_loop().run_in_executor(None, self._fsync)
                self._running = (future, self._issued)
            future, covers = self._running
            try:
                await asyncio.shield(future)
            finally:
                # Whoever sees the sync finish records it (no callbacks: a waiter that
                # never yields must still see the state change).
                if self._running is not None and self._running[0] is future and future.done():
                    self._running = None
                    if not future.cancelled() and future.exception() is None:
                        self._synced = max(self._synced, covers)

    def _fsync(self) -> None:
        # SQLite deletes the WAL when the last connection anywhere closes and makes a new
        # one on the next open: sync the file that is there now, not an old inode.
        current = os.stat(self._path).st_ino
        if self._fd is not None and os.fstat(self._fd).st_ino != current:
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY)
            directory = os.open(self._path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)  # the WAL's name, once per file
            finally:
                os.close(directory)
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _give_back(fd: int, waited: asyncio.Future[None]) -> None:
    """Release the writers' lock a cancelled waiter's thread obtained after all."""
    if not waited.cancelled() and waited.exception() is None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


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
        self.inline_write_engine = (
            make_inline_sqlite_engine(self.url, write=True) if is_sqlite(self.url) else None
        )
        self._readers = threading.local()
        self._reader_connections: list[Any] = []
        self._held_writer: tuple[int, Connection] | None = None
        self._write_lock = asyncio.Lock()
        db_file = _sqlite_file(self.url)
        self._writers_path = Path(f"{db_file}-writers") if db_file else None
        self._wal = _WalSync(Path(f"{db_file}-wal")) if db_file else None
        self._writers_fd: int | None = None
        self._abandoned_wait: asyncio.Future[None] | None = None

    def reader(self) -> Any:
        """This thread's own inline read connection, for single-statement reads.

        It stays checked out of the pool: one statement in autocommit mode reads one
        consistent snapshot, and the statement runs to completion before the event loop
        runs anything else, so a pool round trip per statement buys nothing. A forked
        process opens its own.
        """
        assert self.inline_engine is not None
        held = getattr(self._readers, "held", None)
        if held is None or held[0] != os.getpid():
            held = (os.getpid(), self.inline_engine.raw_connection())
            self._readers.held = held
            self._reader_connections.append(held)
        return held[1]

    def forget_reader(self) -> None:
        """Drop this thread's read connection after an error; the next read opens one."""
        held = getattr(self._readers, "held", None)
        if held is not None:
            self._readers.held = None
            self._reader_connections.remove(held)
            held[1].invalidate()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (a consistent snapshot)."""
        try:
            if self.inline_engine is not None:
                with self.inline_engine.connect() as connection, connection.begin():
                    # Query functions take AsyncSession; they only use its read surface.
                    unit = _InlineSession(connection)
                    try:
                        yield cast(AsyncSession, unit)
                    finally:
                        unit.close()
                return
            async with self._read() as session, session.begin():
                yield session
        except Exception as exc:
            if is_unavailable(exc):
                raise UnavailableError("metadata database unavailable") from exc
            raise

    @asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block exits without an exception.

        A durable unit returns once its commit is on disk. ``durable=False`` is for rows
        whose loss in a power cut costs nothing accepted (an upload session: the client
        starts again): it returns after the commit, which the next durable unit's sync
        makes durable too. A crash of the process loses neither.
        """
        try:
            if self.inline_write_engine is not None:
                committed = False
                async with self._write_lock:
                    fd = await self._take_writers_lock()
                    try:
                        connection = self._writer()
                        try:
                            transaction = connection.begin()  # BEGIN IMMEDIATE, no wait
                        except DBAPIError as exc:
                            self._drop_writer()
                            if not _is_busy(exc):
                                raise
                        else:
                            unit = _InlineSession(connection)
                            try:
                                yield cast(AsyncSession, unit)
                                unit.finish()
                            except BaseException:
                                with self._dropping_writer_on_error():
                                    transaction.rollback()
                                raise
                            finally:
                                unit.close()
                            with self._dropping_writer_on_error():
                                transaction.commit()
                            committed = True
                        if not committed:
                            # A writer outside the queue: wait for it in aiosqlite's thread
                            # (those connections commit with synchronous=FULL).
                            async with self._write() as session, session.begin():
                                yield session
                    finally:
                        if fd is not None:
                            fcntl.flock(fd, fcntl.LOCK_UN)
                if committed and durable and self._wal is not None:
                    await self._wal.wait()  # outside the locks: the next writer goes on
                return
            async with self._write() as session, session.begin():
                if not durable and self.dialect == "postgresql":
                    await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield session
        except Exception as exc:
            if is_unavailable(exc):
                raise UnavailableError("metadata database unavailable") from exc
            raise

    def _writer(self) -> Connection:
        """This process's inline write connection, kept open between units.

        Units take turns on it under ``_write_lock``; a pool round trip per unit would
        cost more than a small unit's statements. A forked process opens its own.
        """
        assert self.inline_write_engine is not None
        held = self._held_writer
        if held is None or held[0] != os.getpid():
            held = self._held_writer = (os.getpid(), self.inline_write_engine.connect())
        return held[1]

    def _drop_writer(self) -> None:
        """Give the write connection back (its reset rolls back); the next unit opens one."""
        held, self._held_writer = self._held_writer, None
        if held is not None and held[0] == os.getpid():
            held[1].close()

    @contextmanager
    def _dropping_writer_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self._drop_writer()
            raise

    async def _take_writers_lock(self) -> int | None:
        """This process's place in the cross-process writers' queue (see the module doc).

        Called under ``_write_lock``, so one task at a time waits on the lock file.
        """
        if self._writers_path is None:
            return None
        if self._writers_fd is None:
            self._writers_fd = os.open(self._writers_path, os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._writers_fd
        if self._abandoned_wait is not None:
            # A cancelled writer's thread may still be waiting for the lock; it gives the
            # lock back when it gets it. Never wait on the same file twice.
            await asyncio.shield(self._abandoned_wait)
            self._abandoned_wait = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting = asyncio.get_running_loop().run_in_executor(
                None, fcntl.flock, fd, fcntl.LOCK_EX
            )
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                waiting.add_done_callback(functools.partial(_give_back, fd))
                self._abandoned_wait = waiting
                raise
        return fd

    async def dispose(self) -> None:
        self._drop_writer()
        for pid, connection in self._reader_connections:
            if pid == os.getpid():
                connection.close()
        self._reader_connections.clear()
        if self._writers_fd is not None:
            os.close(self._writers_fd)
            self._writers_fd = None
        if self._wal is not None:
            self._wal.close()
        for engine in (self.inline_engine, self.inline_write_engine):
            if engine is not None:
                engine.dispose()
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
