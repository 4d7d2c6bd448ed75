"""Ordered jobs, periodic schedules, the outbox dispatcher and the worker loops, on SQLite
and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.bootstrap import build_background, load_master_key, upgrade_database
from dockyard.clock import ManualClock
from dockyard.events import EventType
from dockyard.metadata.models import Account, AuditEvent, Instance, Job, OutboxEvent
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.session import Database
from dockyard.services import outbox
from dockyard.services.audit import AuditLog
from dockyard.services.jobs import (
    JobQueue,
    JobRun,
    PeriodicJob,
    PermanentJobError,
    Scheduler,
    complete_in,
)
from dockyard.services.outbox import Event, OutboxDispatcher, event_job_kind, events_of
from dockyard.settings import Settings
from dockyard.workers.runtime import BackgroundWorker, Timing

pytestmark = pytest.mark.integration

INSTANCE = "default"
SHORT = timedelta(milliseconds=300)
#: A retry's backoff long enough that a loaded machine still leases before it ends (a
#: 300 ms one ran out between the failure and the next lease on PostgreSQL in CI).
RETRY_BACKOFF = timedelta(seconds=2)


async def with_instance(db: Database) -> None:
    async with db.write() as session:
        account = Account(arn_id="1234567890123456", name="test")
        session.add(account)
        await session.flush()
        session.add(
            Instance(
                id=INSTANCE, account_id=account.id, name="default", region="local", edition="Basic"
            )
        )


async def emit(db: Database, type_: EventType, **payload: object) -> None:
    async with db.write() as session:
        await cq.add_outbox_event(session, INSTANCE, type_, dict(payload))


async def all_jobs(db: Database) -> list[Job]:
    async with db.read() as session:
        stmt = select(Job).order_by(Job.created_at, Job.id)
        return list((await session.execute(stmt)).scalars().all())


async def unpublished(db: Database) -> int:
    async with db.read() as session:
        stmt = select(func.count()).where(OutboxEvent.published_at.is_(None))
        return int((await session.execute(stmt)).scalar_one())


class Recorder:
    """A subscriber that remembers what it was handed."""

    def __init__(self, name: str, wants: set[EventType]) -> None:
        self.name = name
        self.wants = frozenset(wants)
        self.seen: list[Event] = []

    async def concerned(self, session: AsyncSession, events: Sequence[Event]) -> Sequence[Event]:
        return events

    async def handle(self, events: Sequence[Event]) -> None:
        self.seen.extend(events)


# -- ordered jobs ------------------------------------------------------------------------


def test_jobs_of_one_key_run_one_at_a_time_in_order(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            queue = JobQueue(db, "w1", backoff_base=RETRY_BACKOFF, max_attempts=2)
            a1 = await queue.enqueue("work", {"n": "a1"}, ordering_key="a")
            a2 = await queue.enqueue("work", {"n": "a2"}, ordering_key="a")
            a3 = await queue.enqueue("work", {"n": "a3"}, ordering_key="a")
            b1 = await queue.enqueue("work", {"n": "b1"}, ordering_key="b")
            free = await queue.enqueue("work", {"n": "free"})

            first = await queue.lease(limit=10)
            assert {j.id for j in first} == {a1, b1, free}  # one per key, and the unkeyed
            assert await queue.lease(limit=10) == []  # a2 waits for a1
            assert await queue.complete(next(j for j in first if j.id == a1))

            (job_a2,) = await queue.lease(limit=10)
            assert job_a2.id == a2
            assert await queue.fail(job_a2, "try later")  # waiting again, backing off
            assert await queue.lease(limit=10) == []  # a3 waits behind a2
            await asyncio.sleep(RETRY_BACKOFF.total_seconds() + 0.2)
            (job_a2,) = await queue.lease(limit=10)
            assert (job_a2.id, job_a2.attempt) == (a2, 2)
            assert await queue.fail(job_a2, "given up")  # the last attempt: failed for good
            (job_a3,) = await queue.lease(limit=10)  # a failed job holds nothing back
            assert job_a3.id == a3
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_handler_completes_its_job_in_its_own_transaction_while_it_holds_the_lease(
    url: str,
) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            queue = JobQueue(db, "w1")
            await queue.enqueue("work", {})
            (job,) = await queue.lease()
            taken_over = dataclasses.replace(job, attempt=job.attempt + 1)
            async with db.write() as session:
                assert not await complete_in(session, taken_over)  # another lease: its job
                # A run outside the queue (no lease) leaves completing to its caller.
                assert not await complete_in(session, JobRun(job.id, job.kind, {}, 1))
            assert [(j.kind, j.state) for j in await all_jobs(db)] == [("work", "running")]

            async with db.write() as session:
                jq.add_job(session, "follow-up", {}, datetime.now(UTC))
                assert await complete_in(session, job)
            assert [j.kind for j in await all_jobs(db)] == ["follow-up"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_an_expired_lease_is_rerun_before_the_rest_of_its_key(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            crashed = JobQueue(db, "crashed", lease=SHORT)
            rescuer = JobQueue(db, "rescuer")
            first = await crashed.enqueue("work", {}, ordering_key="k")
            second = await crashed.enqueue("work", {}, ordering_key="k")
            (held,) = await crashed.lease(limit=5)
            assert held.id == first
            await asyncio.sleep(SHORT.total_seconds() + 0.2)  # the worker died with it
            (again,) = await rescuer.lease(limit=5)
            assert (again.id, again.attempt) == (first, 2)
            assert await rescuer.complete(again)
            (after,) = await rescuer.lease(limit=5)
            assert after.id == second
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_late_earlier_job_does_not_run_beside_a_running_one(url: str) -> None:
    """A job of the key that sorts earlier than the running one waits for it to finish."""

    async def scenario() -> None:
        db = Database(url)
        try:
            queue = JobQueue(db, "w1")
            now = datetime.now(UTC)
            async with db.write() as session:
                late = jq.add_job(session, "work", {}, now, ordering_key="k", created_at=now)
                running = jq.add_job(
                    session,
                    "work",
                    {},
                    now + timedelta(hours=1),  # not due: leased below by hand
                    ordering_key="k",
                    created_at=now + timedelta(seconds=1),
                )
                running.state = jq.RUNNING
                running.attempts = 1
                running.leased_by = "other"
            assert await queue.lease(limit=5) == []
            async with db.write() as session:
                assert await jq.complete_job(session, running.id, "other", 1)
            (job,) = await queue.lease(limit=5)
            assert job.id == late.id
        finally:
            await db.dispose()

    asyncio.run(scenario())


# -- periodic schedules -------------------------------------------------------------------


async def _nothing(_run: JobRun) -> None:
    return None


def test_a_due_periodic_job_is_claimed_once_among_concurrent_schedulers(url: str) -> None:
    async def scenario() -> None:
        nodes = [Database(url) for _ in range(3)]
        clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
        periodic = [
            PeriodicJob("purge-uploads", timedelta(minutes=10), _nothing),
            PeriodicJob("prune-audit", timedelta(hours=1), _nothing),
        ]
        schedulers = [Scheduler(db, periodic, clock) for db in nodes for _ in range(3)]
        try:
            # Nothing is due at first: every scheduler creates (or finds) the rows.
            firsts = await asyncio.gather(*(s.tick() for s in schedulers))
            assert firsts == [[]] * len(schedulers)

            clock.advance(timedelta(minutes=11))
            won = await asyncio.gather(*(s.tick() for s in schedulers))
            assert Counter(name for names in won for name in names) == {"purge-uploads": 1}
            (job,) = await all_jobs(nodes[0])
            assert (job.kind, job.ordering_key) == ("purge-uploads", "periodic:purge-uploads")

            # Due again while the first run is still pending: nothing more is queued.
            clock.advance(timedelta(minutes=11))
            again = await asyncio.gather(*(s.tick() for s in schedulers))
            assert [name for names in again for name in names] == []

            # The run finished; both are due now, each claimed by one scheduler.
            async with nodes[0].write() as session:
                await session.delete(await session.get(Job, job.id))
            clock.advance(timedelta(hours=1))
            won = await asyncio.gather(*(s.tick() for s in schedulers))
            counts = Counter(name for names in won for name in names)
            assert counts == {"purge-uploads": 1, "prune-audit": 1}
            assert sorted(j.kind for j in await all_jobs(nodes[0])) == [
                "prune-audit",
                "purge-uploads",
            ]
        finally:
            for db in nodes:
                await db.dispose()

    asyncio.run(scenario())


# -- the outbox dispatcher ----------------------------------------------------------------


def test_dispatcher_marks_published_and_queues_one_job_per_interested_subscriber(
    url: str,
) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            await with_instance(db)
            tags = Recorder("triggers", {EventType.TAG_UPDATED})
            audit = Recorder("archive", {EventType.TAG_UPDATED, EventType.REPOSITORY_CREATED})
            dispatcher = OutboxDispatcher(db, [tags, audit], retention=timedelta(days=7))
            await emit(db, EventType.REPOSITORY_CREATED, repository="ns/app")
            for n in range(3):
                await emit(db, EventType.TAG_UPDATED, repository="ns/app", tag=f"v{n}")
            await emit(db, EventType.TAG_UPDATED, repository="ns/other", tag="v0")
            await emit(db, EventType.INSTANCE_UPDATED, instance=INSTANCE, fields=["name"])

            assert await dispatcher.has_unpublished()
            assert await dispatcher.dispatch() == 6
            assert await unpublished(db) == 0
            assert not await dispatcher.has_unpublished()
            assert await dispatcher.dispatch() == 0

            jobs = await all_jobs(db)
            events = Counter((j.kind, j.ordering_key, len(events_of(j.payload))) for j in jobs)
            # One job per subscriber and repository: the events of one key dispatched
            # together travel together (the instance event interests neither subscriber).
            assert events == {
                (event_job_kind("triggers"), f"triggers:{INSTANCE}/ns/app", 3): 1,
                (event_job_kind("triggers"), f"triggers:{INSTANCE}/ns/other", 1): 1,
                (event_job_kind("archive"), f"archive:{INSTANCE}/ns/app", 4): 1,
                (event_job_kind("archive"), f"archive:{INSTANCE}/ns/other", 1): 1,
            }
            app_tags = [
                event.payload["tag"]
                for j in jobs
                if j.ordering_key == f"triggers:{INSTANCE}/ns/app"
                for event in events_of(j.payload)
            ]
            assert app_tags == ["v0", "v1", "v2"]  # in the order of the events
            keys = {j.ordering_key for j in jobs if j.kind == event_job_kind("archive")}
            assert keys == {f"archive:{INSTANCE}/ns/app", f"archive:{INSTANCE}/ns/other"}
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_new_events_join_their_keys_newest_job_until_it_starts(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            await with_instance(db)
            monkeypatch.setattr(outbox, "EVENTS_PER_JOB", 3)
            dispatcher = OutboxDispatcher(
                db, [Recorder("triggers", {EventType.TAG_UPDATED})], retention=timedelta(days=7)
            )
            queue = JobQueue(db, "w1", backoff_base=RETRY_BACKOFF)

            async def push(repository: str, *tags: str) -> None:
                for tag in tags:
                    await emit(db, EventType.TAG_UPDATED, repository=repository, tag=tag)
                assert await dispatcher.dispatch() == len(tags)

            async def queued(repository: str) -> list[list[object]]:
                key = f"triggers:{INSTANCE}/{repository}"
                return [
                    [event.payload["tag"] for event in events_of(job.payload)]
                    for job in await all_jobs(db)
                    if job.ordering_key == key
                ]

            await push("ns/app", "v0", "v1")
            await push("ns/app", "v2")
            assert await queued("ns/app") == [["v0", "v1", "v2"]]
            await push("ns/app", "v3", "v4", "v5", "v6")  # the job is full: new ones follow
            assert await queued("ns/app") == [["v0", "v1", "v2"], ["v3", "v4", "v5"], ["v6"]]

            await push("ns/run", "a")
            await push("ns/retry", "x")
            leased = {
                tuple(str(e.payload["tag"]) for e in events_of(job.payload)): job
                for job in await queue.lease(limit=10)
            }
            assert set(leased) == {("v0", "v1", "v2"), ("a",), ("x",)}  # each key's head
            await push("ns/run", "b")  # the job of "a" has started: "b" gets one of its own
            assert await queued("ns/run") == [["a"], ["b"]]
            assert await queue.fail(leased[("x",)], "try later")  # waiting for its retry
            await push("ns/retry", "y")  # a job that has run takes no more events
            assert await queued("ns/retry") == [["x"], ["y"]]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_dispatch_is_atomic(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dispatcher that fails part-way publishes nothing and queues nothing."""

    async def scenario() -> None:
        db = Database(url)
        try:
            await with_instance(db)
            subscriber = Recorder("triggers", {EventType.TAG_UPDATED})
            dispatcher = OutboxDispatcher(db, [subscriber], retention=timedelta(days=7))
            for n in range(4):  # four repositories: a job each
                await emit(db, EventType.TAG_UPDATED, repository=f"ns/app{n}", tag="v1")
            real_add_job = jq.add_job
            calls = 0

            def add_job_then_crash(*args: Any, **kwargs: Any) -> Job:
                nonlocal calls
                calls += 1
                if calls == 3:
                    raise RuntimeError("killed mid-batch")
                return real_add_job(*args, **kwargs)

            with monkeypatch.context() as m:
                m.setattr(jq, "add_job", add_job_then_crash)
                with pytest.raises(RuntimeError):
                    await dispatcher.dispatch()
            assert await unpublished(db) == 4
            assert await all_jobs(db) == []

            assert await dispatcher.dispatch() == 4
            assert await unpublished(db) == 0
            assert len(await all_jobs(db)) == 4
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_concurrent_dispatchers_queue_each_event_once(url: str) -> None:
    events = 60

    async def scenario() -> None:
        nodes = [Database(url), Database(url)]
        try:
            await with_instance(nodes[0])
            for n in range(events):
                await emit(nodes[0], EventType.TAG_UPDATED, repository=f"ns/r{n % 3}", tag=str(n))
            subscriber = Recorder("triggers", {EventType.TAG_UPDATED})
            dispatchers = [
                OutboxDispatcher(db, [subscriber], retention=timedelta(days=7), batch=7)
                for db in nodes
                for _ in range(3)
            ]

            async def drain(dispatcher: OutboxDispatcher) -> None:
                while await dispatcher.dispatch():
                    await asyncio.sleep(0)

            await asyncio.gather(*(drain(d) for d in dispatchers))
            jobs = await all_jobs(nodes[0])
            queued = [(j.ordering_key, event) for j in jobs for event in events_of(j.payload)]
            ids = Counter(event.id for _, event in queued)
            assert len(ids) == events and set(ids.values()) == {1}
            for repo in range(3):  # per repository, queued in event order
                key = f"triggers:{INSTANCE}/ns/r{repo}"
                tags = [int(str(event.payload["tag"])) for k, event in queued if k == key]
                assert tags == sorted(tags) and len(tags) == events // 3
        finally:
            for db in nodes:
                await db.dispose()

    asyncio.run(scenario())


def test_published_events_are_pruned_after_the_retention_period(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        clock = ManualClock(datetime.now(UTC))
        try:
            await with_instance(db)
            dispatcher = OutboxDispatcher(db, [], retention=timedelta(days=7), clock=clock)
            await emit(db, EventType.REPOSITORY_CREATED, repository="ns/old")
            assert await dispatcher.dispatch() == 1
            clock.advance(timedelta(days=8))
            await emit(db, EventType.REPOSITORY_CREATED, repository="ns/unpublished")
            assert await dispatcher.prune() == 1
            async with db.read() as session:
                rows = (await session.execute(select(OutboxEvent))).scalars().all()
            assert [r.payload["repository"] for r in rows] == ["ns/unpublished"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


# -- the worker loops ---------------------------------------------------------------------


def test_background_worker_runs_events_and_jobs_and_stops_gracefully(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            await with_instance(db)
            subscriber = Recorder("triggers", {EventType.TAG_UPDATED})
            dispatcher = OutboxDispatcher(db, [subscriber], retention=timedelta(days=7))
            ran: list[str] = []
            release = asyncio.Event()

            async def slow(run: JobRun) -> None:
                ran.append("slow started")
                await release.wait()
                ran.append("slow finished")

            async def hopeless(run: JobRun) -> None:
                raise PermanentJobError("bad payload")

            async def event_handler(run: JobRun) -> None:
                await subscriber.handle(events_of(run.payload))

            handlers = {
                "slow": slow,
                "hopeless": hopeless,
                event_job_kind("triggers"): event_handler,
            }
            queue = JobQueue(db, "w1")
            worker = BackgroundWorker(
                queue,
                handlers,
                dispatcher,
                Scheduler(db, []),
                Timing(poll=0.05, schedule=0.05, grace=30),
            )
            for n in range(3):
                await emit(db, EventType.TAG_UPDATED, repository="ns/app", tag=f"v{n}")
            doomed = await queue.enqueue("hopeless", {})
            running = asyncio.create_task(worker.run())
            while len(subscriber.seen) < 3:
                await asyncio.sleep(0.05)
            assert [e.payload["tag"] for e in subscriber.seen] == ["v0", "v1", "v2"]
            async with db.read() as session:
                failed = await jq.find_job(session, doomed)
            while failed is None or failed.state != jq.FAILED:
                await asyncio.sleep(0.05)
                async with db.read() as session:
                    failed = await jq.find_job(session, doomed)
            assert (failed.attempts, failed.last_error) == (1, "bad payload")

            slow_id = await queue.enqueue("slow", {})
            while ran != ["slow started"]:
                await asyncio.sleep(0.05)
            worker.stop()  # SIGTERM: the running job may finish
            await asyncio.sleep(0.1)
            assert not running.done()
            release.set()
            await running
            assert ran == ["slow started", "slow finished"]
            async with db.read() as session:
                assert await jq.find_job(session, slow_id) is None  # completed
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_job_outliving_the_grace_period_is_abandoned_to_its_lease(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            never = asyncio.Event()

            async def stuck(run: JobRun) -> None:
                await never.wait()

            queue = JobQueue(db, "w1", lease=SHORT)
            dispatcher = OutboxDispatcher(db, [], retention=timedelta(days=7))
            timing = Timing(poll=0.05, schedule=0.05, grace=0.1)
            worker = BackgroundWorker(
                queue, {"stuck": stuck}, dispatcher, Scheduler(db, []), timing
            )
            job_id = await queue.enqueue("stuck", {})
            running = asyncio.create_task(worker.run())
            while True:
                async with db.read() as session:
                    job = await jq.find_job(session, job_id)
                if job is not None and job.state == jq.RUNNING:
                    break
                await asyncio.sleep(0.05)
            worker.stop()
            await running
            # Still leased to the stopped worker; once the lease lapses another takes it.
            await asyncio.sleep(SHORT.total_seconds() + 0.2)
            (again,) = await JobQueue(db, "w2").lease()
            assert (again.id, again.attempt) == (job_id, 2)
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_one_worker_runs_up_to_its_concurrency_of_jobs_at_once(url: str) -> None:
    """Three jobs that each wait for all three to have started: they finish only if the
    worker runs them side by side (concurrency 3), and a fourth waits for a free slot."""

    async def scenario() -> None:
        db = Database(url)
        try:
            started: list[str] = []
            all_three = asyncio.Event()

            async def gather_three(run: JobRun) -> None:
                started.append(str(run.payload["n"]))
                if len(started) == 3:
                    all_three.set()
                await all_three.wait()

            queue = JobQueue(db, "w1")
            dispatcher = OutboxDispatcher(db, [], retention=timedelta(days=7))
            timing = Timing(poll=0.05, schedule=0.05, grace=30, concurrency=3)
            worker = BackgroundWorker(
                queue, {"gather": gather_three}, dispatcher, Scheduler(db, []), timing
            )
            ids = [await queue.enqueue("gather", {"n": n}) for n in range(4)]
            running = asyncio.create_task(worker.run())
            await asyncio.wait_for(all_three.wait(), 30)
            assert len(started) in (3, 4)  # the fourth only once a slot was free
            while True:
                async with db.read() as session:
                    left = [await jq.find_job(session, job_id) for job_id in ids]
                if all(job is None for job in left):
                    break
                await asyncio.sleep(0.05)
            assert sorted(started) == ["0", "1", "2", "3"]
            worker.stop()
            await running
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_unknown_job_ids_and_views(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            async with db.write() as session:
                assert await jq.requeue_job(session, uuid.uuid4(), datetime.now(UTC)) is None
            queue = JobQueue(db, "w1", max_attempts=1)
            job_id = await queue.enqueue("flaky", {})
            (job,) = await queue.lease()
            assert await queue.fail(job, "boom")
            async with db.write() as session:
                rows, total = await jq.list_jobs(
                    session, state=jq.FAILED, kind=None, offset=0, limit=10
                )
                assert total == 1 and rows[0].id == job_id
                again = await jq.requeue_job(session, job_id, datetime.now(UTC))
                assert again is not None and (again.state, again.attempts) == ("waiting", 0)
            (job,) = await queue.lease()
            assert job.attempt == 1
            async with db.write() as session:  # a running job is not requeued
                assert await jq.requeue_job(session, job_id, datetime.now(UTC)) is None
        finally:
            await db.dispose()

    asyncio.run(scenario())


# -- the deployment's periodic jobs, as bootstrap wires them -------------------------------


async def run_registered_job(settings: Settings, db: Database, kind: str) -> None:
    """Run the background worker ``build_background`` makes until it has run one ``kind``
    job (enqueued here) and completed it."""
    background = build_background(settings)
    try:
        running = asyncio.create_task(background.worker.run())
        job_id = await JobQueue(db, "test").enqueue(kind, {})
        while True:
            async with db.read() as session:
                if await jq.find_job(session, job_id) is None:
                    break
            await asyncio.sleep(0.05)
        background.worker.stop()
        await running
    finally:
        await background.stop()


def test_prune_audit_job_keeps_the_configured_retention(tmp_path: Path) -> None:
    """The ``prune-audit`` job that ``build_background`` registers prunes with
    ``audit_retention_days`` (7 here, far below the 180-day default)."""
    settings = Settings(data_dir=tmp_path, audit_retention_days=7, background_poll_seconds=0.05)
    upgrade_database(settings)
    load_master_key(settings, create=True)  # as the first start does
    now = datetime.now(UTC)

    async def scenario() -> None:
        db = Database(settings.resolved_database_url)
        try:
            async with db.write() as session:
                session.add(Account(arn_id="1234567890123456", name="test"))
            for age_days, action in ((10, "past-retention"), (3, "within-retention")):
                clock = ManualClock(now - timedelta(days=age_days))
                await AuditLog(db, clock).record(actor="alice", action=action, outcome="success")
            await run_registered_job(settings, db, "prune-audit")
            async with db.read() as session:
                kept = set((await session.execute(select(AuditEvent.action))).scalars())
            assert kept == {"within-retention"}
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_prune_events_job_keeps_the_configured_retention(tmp_path: Path) -> None:
    """The ``prune-events`` job prunes published events with ``event_retention_days`` (2
    here, not the default 7); unpublished events stay whatever their age."""
    settings = Settings(data_dir=tmp_path, event_retention_days=2, background_poll_seconds=0.05)
    upgrade_database(settings)
    load_master_key(settings, create=True)
    now = datetime.now(UTC)

    async def scenario() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await with_instance(db)
            async with db.write() as session:
                for name, published_days_ago in (("old", 3.0), ("recent", 1.0)):
                    session.add(
                        OutboxEvent(
                            instance_id=INSTANCE,
                            type=EventType.INSTANCE_UPDATED.value,
                            payload={"name": name},
                            created_at=now - timedelta(days=4),
                            published_at=now - timedelta(days=published_days_ago),
                        )
                    )
            await run_registered_job(settings, db, "prune-events")
            async with db.read() as session:
                kept = {
                    e.payload["name"]
                    for e in (await session.execute(select(OutboxEvent))).scalars()
                }
            assert kept == {"recent"}
        finally:
            await db.dispose()

    asyncio.run(scenario())
