"""Alembic environment: one metadata for SQLite and PostgreSQL, on the async drivers.

``dockyard.metadata.migrate`` passes an open connection in ``config.attributes``; the
``alembic`` command line (no connection given) gets one from the async engine here.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, NullPool, text
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.metadata import models  # noqa: F401  (registers every table)
from dockyard.metadata.base import Base
from dockyard.metadata.migrate import MIGRATION_LOCK_KEY
from dockyard.metadata.session import database_url

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # ``migrate.upgrade`` records the steps it ran, to report them itself.
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Nodes upgrading at once take turns; the version table is read after the lock.
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
        context.run_migrations()


async def run_async_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_async_engine(database_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


run_migrations_online()
