"""Single-statement reads returning plain tuples, at the lowest cost each backend allows.

The registry's hot reads (manifest GET/HEAD, blob HEAD/GET, tags list, the repository of
a request) are each ONE Core SELECT. Run through a Session, or even a Core ``Connection``,
one such statement costs SQLAlchemy's per-execution machinery — connection checkout
wrappers, events, an explicit ``BEGIN`` and ``ROLLBACK``, result metadata — several hundred
microseconds of CPU, ten times what SQLite takes to answer it
(``docs/performance.md``). On SQLite (the inline read engine, WAL mode), a single SELECT
in autocommit mode already reads one consistent snapshot, so :class:`RowQuery` compiles
the statement once, takes a pooled DBAPI connection, executes the SQL text with positional
parameters and converts the columns with the types' own result processors (UUIDs, UTC
datetimes) — the same values SQLAlchemy would return. On PostgreSQL it runs the same
statement in an ordinary read unit of work.

Failures are classified like :meth:`Database.read`'s: an unreachable or locked database
is :class:`~dockyard.errors.UnavailableError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select

from dockyard.errors import UnavailableError
from dockyard.metadata.session import Database, is_unavailable

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    binds: dict[str, Callable[[Any], Any]]
    results: tuple[_Processor, ...]


class RowQuery:
    """A Core SELECT, compiled once, run as one statement returning plain tuples."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def _compile(self, engine: Engine) -> _Compiled:
        if self._compiled is None:
            dialect = engine.dialect
            compiled = self.statement.compile(dialect=dialect)
            if "POSTCOMPILE" in str(compiled):
                raise ValueError("RowQuery takes no expanding (IN list) parameters")
            binds: dict[str, Callable[[Any], Any]] = {}
            for name, bind in compiled.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    binds[name] = processor
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            self._compiled = _Compiled(
                str(compiled),
                tuple(compiled.positiontup or ()),
                dict(compiled.params),
                binds,
                results,
            )
        return self._compiled

    async def all(self, db: Database, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        engine = db.inline_engine
        if engine is None:
            async with db.read() as session:
                return [tuple(row) for row in (await session.execute(self.statement, params))]
        return self._run_inline(engine, params)

    async def first(self, db: Database, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = await self.all(db, params)
        return rows[0] if rows else None

    def _run_inline(self, engine: Engine, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        c = self._compile(engine)
        values = {**c.defaults, **params}
        args = [
            c.binds[name](values[name]) if name in c.binds else values[name] for name in c.names
        ]
        try:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(c.sql, args)
                    rows: Sequence[Sequence[Any]] = cursor.fetchall()
                finally:
                    cursor.close()
            finally:
                raw.close()  # back to the pool (its reset is a no-op: no transaction open)
        except Exception as exc:
            text = str(exc).lower()
            if is_unavailable(exc) or (
                isinstance(exc, sqlite3.OperationalError)
                and any(s in text for s in ("locked", "unable to open", "disk i/o", "busy"))
            ):
                raise UnavailableError("metadata database unavailable") from exc
            raise
        out = []
        for row in rows:
            pairs = zip(c.results, row, strict=True)
            out.append(tuple(p(v) if p is not None and v is not None else v for p, v in pairs))
        return out
