"""SQLite write units: inline on the loop, queued across processes, durable or relaxed.

Two :class:`Database` objects over one file stand for two worker processes: their
``<database>-writers`` locks are separate open files, which ``flock`` treats exactly as
it treats two processes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError

from dockyard.metadata import migrate
from dockyard.metadata.models import Blob, Upload
from dockyard.metadata.queries._insert import insert_ignore, insert_row
from dockyard.metadata.session import Database, prepared

pytestmark = pytest.mark.integration

WAIT = 0.3  # how long a blocked writer is watched to prove it is still waiting


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "dockyard.db"
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE scratch (n INTEGER NOT NULL, who TEXT NOT NULL)")
    return path


async def _rows(db: Database) -> list[tuple[int, str]]:
    async with db.read() as session:
        result = await session.execute(text("SELECT n, who FROM scratch ORDER BY n"))
        return [(int(n), str(who)) for n, who in result]


async def _append(db: Database, who: str, *, durable: bool = True) -> int:
    """Insert (rows seen + 1, who) in one write unit; returns the number written."""
    async with db.write(durable=durable) as session:
        seen = (await session.execute(text("SELECT count(*) FROM scratch"))).scalar_one()
        await session.execute(
            text("INSERT INTO scratch VALUES (:n, :who)"), {"n": seen + 1, "who": who}
        )
        return int(seen) + 1


def test_the_file_is_in_wal_mode_whoever_opens_it_first(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    sqlite3.connect(path).close()  # created in the default rollback-journal mode

    async def scenario() -> None:
        db = Database(f"sqlite:///{path}")
        try:
            async with db.write() as session:
                await session.execute(text("CREATE TABLE t (x INTEGER)"))
        finally:
            await db.dispose()

    asyncio.run(scenario())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_writer_waits_for_another_node_in_the_queue(db_file: Path) -> None:
    async def scenario() -> None:
        a, b = Database(f"sqlite:///{db_file}"), Database(f"sqlite:///{db_file}")
        release = asyncio.Event()
        holding = asyncio.Event()
        try:

            async def hold() -> None:
                async with a.write() as session:
                    await session.execute(text("INSERT INTO scratch VALUES (1, 'a')"))
                    holding.set()
                    await release.wait()

            holder = asyncio.create_task(hold())
            await holding.wait()
            waiter = asyncio.create_task(_append(b, "b"))
            await asyncio.sleep(WAIT)
            assert not waiter.done(), "b wrote while a held the write queue"
            release.set()
            await holder
            assert await asyncio.wait_for(waiter, 10) == 2  # b saw a's committed row
            assert await _rows(a) == [(1, "a"), (2, "b")]
        finally:
            await a.dispose()
            await b.dispose()

    asyncio.run(scenario())


def test_many_writers_of_two_nodes_lose_nothing(db_file: Path) -> None:
    async def scenario() -> None:
        nodes = [Database(f"sqlite:///{db_file}") for _ in range(2)]
        try:
            written = await asyncio.gather(
                *(_append(nodes[i % 2], f"w{i}", durable=i % 3 != 0) for i in range(60))
            )
            assert sorted(written) == list(range(1, 61))  # each saw every earlier commit
            rows = await _rows(nodes[1])
            assert [n for n, _ in rows] == list(range(1, 61))
        finally:
            for db in nodes:
                await db.dispose()

    asyncio.run(scenario())


def test_a_writer_outside_the_queue_is_waited_for(db_file: Path) -> None:
    """A CLI command writing with plain SQLite: the unit waits for it, then commits."""

    async def scenario() -> None:
        db = Database(f"sqlite:///{db_file}")
        outsider = sqlite3.connect(db_file, isolation_level=None)
        try:
            outsider.execute("BEGIN IMMEDIATE")
            outsider.execute("INSERT INTO scratch VALUES (1, 'outsider')")
            waiter = asyncio.create_task(_append(db, "node"))
            await asyncio.sleep(WAIT)
            assert not waiter.done()
            outsider.execute("COMMIT")
            assert await asyncio.wait_for(waiter, 10) == 2
            assert await _rows(db) == [(1, "outsider"), (2, "node")]
        finally:
            outsider.close()
            await db.dispose()

    asyncio.run(scenario())


def test_a_cancelled_waiter_gives_its_place_back(db_file: Path) -> None:
    async def scenario() -> None:
        a, b = Database(f"sqlite:///{db_file}"), Database(f"sqlite:///{db_file}")
        release = asyncio.Event()
        holding = asyncio.Event()
        try:

            async def hold() -> None:
                async with a.write():
                    holding.set()
                    await release.wait()

            holder = asyncio.create_task(hold())
            await holding.wait()
            waiter = asyncio.create_task(_append(b, "cancelled"))
            await asyncio.sleep(WAIT)
            waiter.cancel()
            release.set()
            await holder
            with pytest.raises(asyncio.CancelledError):
                await waiter
            # Neither node is left holding the queue.
            assert await asyncio.wait_for(_append(a, "a"), 10) == 1
            assert await asyncio.wait_for(_append(b, "b"), 10) == 2
        finally:
            await a.dispose()
            await b.dispose()

    asyncio.run(scenario())


def test_a_failed_unit_writes_nothing_and_frees_the_queue(db_file: Path) -> None:
    async def scenario() -> None:
        a, b = Database(f"sqlite:///{db_file}"), Database(f"sqlite:///{db_file}")
        try:
            with pytest.raises(RuntimeError, match="boom"):
                async with a.write() as session:
                    await session.execute(text("INSERT INTO scratch VALUES (1, 'lost')"))
                    raise RuntimeError("boom")
            assert await asyncio.wait_for(_append(b, "b"), 10) == 1
            assert await _rows(a) == [(1, "b")]
        finally:
            await a.dispose()
            await b.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_relaxed_units_commit_like_durable_ones(
    backend: str, db_file: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{db_file}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_migrated_url")
    )

    async def scenario() -> None:
        if backend == "postgresql":
            # The test server runs with synchronous_commit off; durable units use the
            # database's setting, so turn it on here to see the relaxed unit turn it off.
            admin = Database(url)
            async with admin.write() as session:
                name = (await session.execute(text("SELECT current_database()"))).scalar_one()
                await session.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO on'))
            await admin.dispose()
        writer, reader = Database(url), Database(url)
        try:
            if backend == "postgresql":
                async with writer.write() as session:
                    await session.execute(text("DROP TABLE IF EXISTS scratch"))
                    await session.execute(
                        text("CREATE TABLE scratch (n INTEGER NOT NULL, who TEXT NOT NULL)")
                    )
            assert await _append(writer, "relaxed", durable=False) == 1
            assert await _append(writer, "durable") == 2
            assert await _rows(reader) == [(1, "relaxed"), (2, "durable")]
            if backend == "postgresql":
                async with writer.write(durable=False) as session:
                    setting = (await session.execute(text("SHOW synchronous_commit"))).scalar_one()
                assert setting == "off"  # only inside that transaction
                async with writer.write() as session:
                    setting = (await session.execute(text("SHOW synchronous_commit"))).scalar_one()
                assert setting == "on"
                async with writer.write() as session:
                    await session.execute(text("DROP TABLE scratch"))
                    await session.execute(text(f'ALTER DATABASE "{name}" RESET synchronous_commit'))
        finally:
            await writer.dispose()
            await reader.dispose()

    asyncio.run(scenario())


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return synced


def test_a_durable_unit_returns_after_the_wal_is_synced(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _record_fsyncs(monkeypatch)
    wal = f"{db_file}-wal"

    async def scenario() -> None:
        db = Database(f"sqlite:///{db_file}")
        try:
            await _append(db, "relaxed", durable=False)
            assert wal not in synced  # an upload session does not wait for the disk
            await _append(db, "durable")
            assert wal in synced
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_concurrent_durable_units_share_wal_syncs(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _record_fsyncs(monkeypatch)
    wal = f"{db_file}-wal"

    async def scenario() -> None:
        db = Database(f"sqlite:///{db_file}")
        try:
            await asyncio.gather(*(_append(db, f"w{i}") for i in range(20)))
            assert [n for n, _ in await _rows(db)] == list(range(1, 21))
        finally:
            await db.dispose()

    asyncio.run(scenario())
    # Group commit: each fsync covered every unit committed before it began.
    assert 1 <= synced.count(wal) < 10


def test_prepared_statements_return_what_sqlalchemy_returns(db_file: Path) -> None:
    """The DBAPI fast path converts values with the column types, like SQLAlchemy."""
    blobs = Blob.__table__
    by_digest = select(blobs.c.id, blobs.c.size, blobs.c.created_at).where(
        blobs.c.digest == bindparam("digest")
    )
    fast = prepared(by_digest)

    async def scenario() -> None:
        db = Database(f"sqlite:///{db_file}")
        try:
            async with db.write() as session:
                assert await insert_ignore(session, Blob, digest="sha256:" + "a" * 64, size=7)
                assert not await insert_ignore(session, Blob, digest="sha256:" + "a" * 64, size=7)
                got = (await session.execute(fast, {"digest": "sha256:" + "a" * 64})).one()
            async with db.read() as session:
                want = (await session.execute(by_digest, {"digest": "sha256:" + "a" * 64})).one()
            assert tuple(got) == tuple(want)
            assert isinstance(got[0], uuid.UUID) and got[2].tzinfo is not None
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_prepared_statements_raise_sqlalchemys_errors(db_file: Path) -> None:
    async def scenario() -> None:
        db = Database(f"sqlite:///{db_file}")
        try:
            with pytest.raises(IntegrityError):  # no such repository: a foreign key
                async with db.write() as session:
                    await insert_row(
                        session,
                        Upload,
                        repository_id=uuid.uuid4(),
                        storage_key="k",
                        expires_at=datetime.now(UTC),
                    )
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_orm_objects_and_core_statements_share_one_transaction(db_file: Path) -> None:
    """ORM objects added in a unit are flushed before its next Core statement and
    committed, or rolled back, together with it."""
    digest = "sha256:" + "b" * 64
    count_blobs = text("SELECT count(*) FROM blobs")

    async def scenario() -> None:
        db = Database(f"sqlite:///{db_file}")
        try:
            with pytest.raises(RuntimeError, match="boom"):
                async with db.write() as session:
                    session.add(Blob(digest=digest, size=1))
                    assert (await session.execute(count_blobs)).scalar_one() == 1
                    await session.execute(text("INSERT INTO scratch VALUES (1, 'orm')"))
                    raise RuntimeError("boom")
            async with db.read() as session:
                assert (await session.execute(count_blobs)).scalar_one() == 0
            assert await _rows(db) == []

            async with db.write() as session:
                await session.execute(text("INSERT INTO scratch VALUES (1, 'orm')"))
                session.add(Blob(digest=digest, size=2))  # flushed when the unit ends
            async with db.read() as session:
                stored = (await session.execute(select(Blob.size))).scalars().all()
            assert stored == [2]
            assert await _rows(db) == [(1, "orm")]
        finally:
            await db.dispose()

    asyncio.run(scenario())
