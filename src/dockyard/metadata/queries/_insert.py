"""INSERT ... ON CONFLICT DO NOTHING on both SQLite and PostgreSQL.

Concurrent pushes of one blob or manifest race on unique keys; letting the database
settle the race is correct on every backend, where read-then-write is not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.base import Base


async def insert_ignore(session: AsyncSession, model: type[Base], **values: Any) -> bool:
    """Insert a row unless it collides on a unique key; True when a row was inserted."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    table = model.__table__
    # Apply Python-side column defaults, which core inserts would otherwise skip.
    for column in table.columns:
        if column.key not in values and column.default is not None and column.default.is_callable:
            values[column.key] = column.default.arg(None)
        elif column.key not in values and column.default is not None and column.default.is_scalar:
            values[column.key] = column.default.arg
    stmt = module.insert(table).values(**values).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]
