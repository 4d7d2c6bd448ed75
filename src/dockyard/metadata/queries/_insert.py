"""Core INSERTs for write paths: ON CONFLICT DO NOTHING, and plain rows with defaults.

Concurrent pushes of one blob or manifest race on unique keys; letting the database
settle the race is correct on every backend, where read-then-write is not.

Each statement is built once per dialect and table and executed with a parameter dict
(:func:`~dockyard.metadata.session.prepared`: on SQLite, compiled once and run on the
DBAPI cursor); adding an ORM object and flushing it costs the unit-of-work machinery,
several times the INSERT itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.base import Base
from dockyard.metadata.session import prepared

_IGNORING: dict[tuple[str, str], Insert] = {}
_PLAIN: dict[str, Insert] = {}
#: Per table: (column key, default's argument, whether it is called) of Python-side defaults.
_DEFAULTS: dict[str, tuple[tuple[str, Any, bool], ...]] = {}


def with_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus the Python-side column defaults it leaves out."""
    defaults = _DEFAULTS.get(table.name)
    if defaults is None:
        defaults = _DEFAULTS[table.name] = tuple(
            (column.key, column.default.arg, column.default.is_callable)  # type: ignore[attr-defined]
            for column in table.columns
            if column.default is not None
            and (column.default.is_callable or column.default.is_scalar)
        )
    for key, arg, is_callable in defaults:
        if key not in values:
            values[key] = arg(None) if is_callable else arg
    return values


async def insert_ignore(session: AsyncSession, model: type[Base], **values: Any) -> bool:
    """Insert a row unless it collides on a unique key; True when a row was inserted."""
    return await insert_unless_present(session, model, **values) is not None


async def insert_unless_present(
    session: AsyncSession, model: type[Base], **values: Any
) -> dict[str, Any] | None:
    """Like :func:`insert_ignore`; returns the values written (defaults such as a new id
    included) when a row was inserted, None when it collided."""
    dialect = session.get_bind().dialect.name
    table: Table = model.__table__  # type: ignore[assignment]
    stmt = _IGNORING.get((dialect, table.name))
    if stmt is None:
        module = postgresql if dialect == "postgresql" else sqlite
        stmt = prepared(module.insert(table).on_conflict_do_nothing())
        _IGNORING[(dialect, table.name)] = stmt
    row = with_defaults(table, values)
    result = await session.execute(stmt, row)
    return row if result.rowcount else None  # type: ignore[attr-defined]


def _plain(table: Table) -> Insert:
    stmt = _PLAIN.get(table.name)
    if stmt is None:
        stmt = _PLAIN[table.name] = prepared(insert(table))
    return stmt


async def insert_row(session: AsyncSession, model: type[Base], **values: Any) -> dict[str, Any]:
    """Insert one row now (no ORM flush); returns the values written, defaults included."""
    table: Table = model.__table__  # type: ignore[assignment]
    row = with_defaults(table, values)
    await session.execute(_plain(table), row)
    return row


async def insert_rows(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert several rows in one statement call (executemany), defaults included."""
    table: Table = model.__table__  # type: ignore[assignment]
    await session.execute(_plain(table), [with_defaults(table, dict(row)) for row in rows])
