"""Single-statement reads returning plain tuples, at the lowest cost each backend allows.

The registry's hot reads (manifest GET/HEAD, blob HEAD/GET, tags list, the repository of
a request) are each ONE Core SELECT. Run through a Session, or even a Core ``Connection``,
one such statement costs SQLAlchemy's per-execution machinery — connection checkout
wrappers, events, an explicit ``BEGIN`` and ``ROLLBACK``, result metadata — several hundred
microseconds of CPU, ten times what SQLite takes to answer it
(``docs/performance.md``). On SQLite (the inline read engine, WAL mode), a single SELECT
in autocommit mode already reads one consistent snapshot, so :class:`RowQuery` compiles
the statement once, executes the SQL text with positional parameters on the thread's own
DBAPI read connection (:meth:`Database.reader`, no pool round trip) and converts the
columns with the types' own result processors (UUIDs, UTC datetimes) — the same values
SQLAlchemy would return. On PostgreSQL it runs the same statement in an ordinary read unit
of work.

Failures are classified like :meth:`Database.read`'s: an unreachable or locked database
is :class:`~dockyard.errors.UnavailableError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, Select

from dockyard.errors import UnavailableError
from dockyard.metadata.session import Database, DbapiStatement, is_unavailable


class RowQuery:
    """A Core SELECT, compiled once, run as one statement returning plain tuples."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: DbapiStatement | None = None

    def _compile(self, engine: Engine) -> DbapiStatement:
        if self._compiled is None:
            self._compiled = DbapiStatement.compile(self.statement, engine.dialect)
        return self._compiled

    async def all(self, db: Database, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        if db.inline_engine is None:
            async with db.read() as session:
                return [tuple(row) for row in (await session.execute(self.statement, params))]
        return self._run_inline(db, params)

    async def first(self, db: Database, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = await self.all(db, params)
        return rows[0] if rows else None

    def _run_inline(self, db: Database, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        assert db.inline_engine is not None
        try:
            return self._compile(db.inline_engine).run(db.reader(), params)[0]
        except Exception as exc:
            db.forget_reader()
            cause = getattr(exc, "orig", exc)
            text = str(cause).lower()
            if is_unavailable(exc) or (
                isinstance(cause, sqlite3.OperationalError)
                and any(s in text for s in ("locked", "unable to open", "disk i/o", "busy"))
            ):
                raise UnavailableError("metadata database unavailable") from exc
            raise
