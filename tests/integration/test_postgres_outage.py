"""PostgreSQL going away and coming back: clean UnavailableError, then recovery by itself.

Runs against the session's PostgreSQL taken as ``restartable_postgres``: it is stopped and
restarted, and runs again afterwards.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from tests.pgserver import PostgresServer

from dockyard.errors import UnavailableError
from dockyard.metadata import migrate
from dockyard.metadata.session import Database, database_url, is_unavailable

pytestmark = pytest.mark.integration


def test_database_url_normalisation() -> None:
    assert database_url("postgresql://u:p@h:5432/db") == "postgresql+asyncpg://u:p@h:5432/db"
    assert database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert (
        database_url("postgresql://u@h/db?sslmode=require&application_name=x")
        == "postgresql+asyncpg://u@h/db?ssl=require&application_name=x"
    )
    assert database_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert database_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert database_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_connection_refused_is_unavailable() -> None:
    async def scenario() -> None:
        db = Database("postgresql://postgres@127.0.0.1:1/nothing")
        try:
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                async with db.read() as session:
                    await session.execute(text("SELECT 1"))
            assert time.monotonic() - started < 10
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_restart_and_outage_then_recovery(restartable_postgres: PostgresServer) -> None:
    name = restartable_postgres.create_database("outage")
    url = restartable_postgres.url(name).replace("postgresql+asyncpg://", "postgresql://")
    migrate.upgrade(url)

    async def select_one(db: Database) -> int:
        async with db.read() as session:
            return int((await session.execute(text("SELECT 1"))).scalar_one())

    async def scenario() -> None:
        db = Database(url)
        try:
            # Fill the pool with several connections, all of which the restart will cut.
            assert await asyncio.gather(*(select_one(db) for _ in range(5))) == [1] * 5

            # A transaction in flight when the server goes down fails as unavailable.
            with pytest.raises(UnavailableError):
                async with db.write() as session:
                    await session.execute(text("SELECT 1"))
                    await asyncio.to_thread(restartable_postgres.restart, "fast")
                    await session.execute(text("SELECT 1"))

            # Pooled connections are dead now; pre-ping replaces them: no error at all.
            assert await asyncio.gather(*(select_one(db) for _ in range(5))) == [1] * 5

            # Server down: quick UnavailableError (no hang), over and over.
            await asyncio.to_thread(restartable_postgres.stop, "fast")
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(UnavailableError):
                    await select_one(db)
                assert time.monotonic() - started < 10
            with pytest.raises(UnavailableError):
                async with db.write() as session:
                    await session.execute(text("SELECT 1"))

            # Back up: the same Database works again by itself.
            await asyncio.to_thread(restartable_postgres.start)
            assert await select_one(db) == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_classification_of_other_errors() -> None:
    assert not is_unavailable(ValueError("connection"))  # not a database error
    assert not is_unavailable(FileNotFoundError(2, "No such file"))
    assert is_unavailable(ConnectionResetError(104, "reset"))
    assert is_unavailable(TimeoutError())
