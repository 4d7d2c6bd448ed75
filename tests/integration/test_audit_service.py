"""services.audit in process, on SQLite and PostgreSQL: retention (with a manual clock, no
sleeping), transactional rows, listing filters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from dockyard.clock import ManualClock
from dockyard.errors import InvalidInputError
from dockyard.metadata import migrate
from dockyard.metadata.models import Account, AuditEvent
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog, AuditQuery
from dockyard.services.paging import PageRequest
from dockyard.settings import Settings

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1, tzinfo=UTC)
RETENTION = timedelta(days=180)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
        return url
    return str(request.getfixturevalue("pg_migrated_url"))


Scenario = Callable[[Database, AuditLog, ManualClock], Awaitable[None]]


def run(url: str, scenario: Scenario) -> None:
    async def main() -> None:
        db = Database(url)
        try:
            async with db.write() as session:
                session.add(Account(arn_id="1234567890123456", name="test"))
            clock = ManualClock(START)
            await scenario(db, AuditLog(db, clock), clock)
        finally:
            await db.dispose()

    asyncio.run(main())


async def count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(AuditEvent))).scalar())


async def actions(db: Database) -> set[str]:
    async with db.read() as session:
        return set((await session.execute(select(AuditEvent.action))).scalars())


def test_retention_deletes_old_rows_and_keeps_recent_ones(db_url: str) -> None:
    async def scenario(db: Database, audit: AuditLog, clock: ManualClock) -> None:
        for i in range(5):
            await audit.record(actor="alice", action=f"old{i}", outcome="success")
        clock.advance(timedelta(days=100))
        await audit.record(actor="alice", action="middle", outcome="success")
        clock.advance(timedelta(days=80))  # day 180: the first rows are exactly 180 days old
        await audit.record(actor="alice", action="recent", outcome="denied")
        assert await audit.prune(RETENTION) == 0  # not older than the retention yet
        clock.advance(timedelta(seconds=1))
        assert await audit.prune(RETENTION) == 5
        assert await actions(db) == {"middle", "recent"}
        clock.advance(timedelta(days=100))
        assert await audit.prune(RETENTION) == 1
        assert await actions(db) == {"recent"}
        assert await audit.prune(RETENTION) == 0

    run(db_url, scenario)


def test_retention_works_in_bounded_batches(db_url: str) -> None:
    async def scenario(db: Database, audit: AuditLog, clock: ManualClock) -> None:
        for i in range(7):
            await audit.record(actor="bob", action=f"a{i}", outcome="success")
        clock.advance(RETENTION + timedelta(days=1))
        await audit.record(actor="bob", action="keep", outcome="success")
        # Two batches of three per pass: a pass stops, the next one continues.
        assert await audit.prune(RETENTION, batch_size=3, max_batches=2) == 6
        assert await count(db) == 2
        assert await audit.prune(RETENTION, batch_size=3, max_batches=2) == 1
        assert await actions(db) == {"keep"}

    run(db_url, scenario)


def test_add_commits_and_rolls_back_with_the_callers_transaction(db_url: str) -> None:
    async def scenario(db: Database, audit: AuditLog, clock: ManualClock) -> None:
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                await audit.change(session, Actor("carol"), "cr:PushRepository", "arn")
                raise RuntimeError("the change failed")
        assert await count(db) == 0
        async with db.write() as session:
            await audit.change(
                session, Actor("carol", None, "10.0.0.1"), "cr:PushRepository", "arn", {"t": 1}
            )
        page = await audit.list_events(AuditQuery(), PageRequest())
        (event,) = page.items
        assert (event.actor, event.source_ip, event.outcome, event.detail) == (
            "carol",
            "10.0.0.1",
            "success",
            {"t": 1},
        )
        assert event.at == START

    run(db_url, scenario)


def test_listing_filters_order_and_paging(db_url: str) -> None:
    async def scenario(db: Database, audit: AuditLog, clock: ManualClock) -> None:
        for i in range(6):
            await audit.record(
                actor="dave" if i % 2 else "erin",
                action="cr:PushRepository" if i < 4 else "signin",
                outcome="denied" if i == 5 else "success",
                detail={"i": i},
            )
            clock.advance(timedelta(minutes=1))

        async def listed(page: PageRequest | None = None, **filters: str) -> list[object]:
            result = await audit.list_events(AuditQuery(**filters), page or PageRequest())
            return [e.detail["i"] for e in result.items]

        assert await listed() == [5, 4, 3, 2, 1, 0]
        assert await listed(actor="dave") == [5, 3, 1]
        assert await listed(action="signin") == [5, 4]
        assert await listed(outcome="denied") == [5]
        two = (START + timedelta(minutes=2)).isoformat()
        four = (START + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert await listed(since=two, until=four) == [3, 2]
        assert await listed(since=two.replace("+00:00", "")) == [5, 4, 3, 2]  # naive is UTC
        assert await listed(since=(START + timedelta(minutes=2)).astimezone().isoformat()) == [
            5,
            4,
            3,
            2,
        ]
        page = await audit.list_events(AuditQuery(), PageRequest(2, 4))
        assert ([e.detail["i"] for e in page.items], page.total) == ([1, 0], 6)
        for bad in (
            AuditQuery(outcome="ok"),
            AuditQuery(since="soon"),
            AuditQuery(until="2026-02-30T00:00:00"),
            AuditQuery(since="2026-02-02", until="2026-02-01"),
            AuditQuery(action="a" * 65),
        ):
            with pytest.raises(InvalidInputError):
                await audit.list_events(bad, PageRequest())

    run(db_url, scenario)


def test_retention_setting_bounds() -> None:
    assert Settings().audit_retention_days == 180
    assert Settings(audit_retention_days=1).audit_retention_days == 1
    assert Settings(audit_retention_days=3650).audit_retention_days == 3650
    for bad in (0, 3651):
        with pytest.raises(ValidationError):
            Settings(audit_retention_days=bad)
