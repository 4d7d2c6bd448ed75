"""The durable job queue (``dockyard.services.jobs``) on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.session import Database
from dockyard.services.jobs import JobQueue, LeasedJob

pytestmark = pytest.mark.integration

SHORT = timedelta(milliseconds=400)


async def state(db: Database, job_id: uuid.UUID) -> tuple[str, int, str | None] | None:
    async with db.read() as session:
        job = await jq.find_job(session, job_id)
    return None if job is None else (job.state, job.attempts, job.last_error)


def test_enqueue_lease_complete(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            queue = JobQueue(db, "w1")
            first = await queue.enqueue("gc", {"n": 1})
            await queue.enqueue("replicate", {"n": 2})
            later = await queue.enqueue("gc", {"n": 3}, delay=timedelta(hours=1))

            assert await queue.lease(kinds=["scan"]) == []
            (job,) = await queue.lease(kinds=["gc"], limit=5)  # the delayed one is not ready
            assert (job.id, job.kind, job.payload, job.attempt) == (first, "gc", {"n": 1}, 1)
            assert job.lease_expires_at > datetime.now(UTC)
            assert await state(db, first) == ("running", 1, None)
            assert await queue.lease(kinds=["gc"]) == []  # leased jobs are not offered again

            assert await queue.complete(job)
            assert await state(db, first) is None
            assert not await queue.complete(job)  # once

            (other,) = await queue.lease()
            assert other.kind == "replicate"
            assert await queue.complete(other)
            assert await state(db, later) == ("waiting", 0, None)
            async with db.read() as session:
                assert await jq.count_jobs(session) == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_failed_attempts_retry_with_backoff_then_fail_for_good(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            queue = JobQueue(db, "w1", max_attempts=3, backoff_base=SHORT)
            assert [queue.backoff(n) for n in (1, 2, 3)] == [SHORT, SHORT * 2, SHORT * 4]
            job_id = await queue.enqueue("flaky", {})
            for attempt in (1, 2):
                (job,) = await queue.lease()
                assert job.attempt == attempt
                assert await queue.fail(job, f"boom {attempt}")
                assert await state(db, job_id) == ("waiting", attempt, f"boom {attempt}")
                assert await queue.lease() == []  # backing off
                await asyncio.sleep(
                    (queue.backoff(attempt) + timedelta(milliseconds=150)).total_seconds()
                )
            (job,) = await queue.lease()
            assert job.attempt == 3
            assert await queue.fail(job, "boom 3")  # the last attempt: failed for good
            assert await state(db, job_id) == ("failed", 3, "boom 3")
            await asyncio.sleep(queue.backoff(3).total_seconds())
            assert await queue.lease() == []

            # Not worth retrying: failed at once.
            doomed = await queue.enqueue("bad-input", {})
            (job,) = await queue.lease()
            assert await queue.fail(job, "invalid payload", retry=False)
            assert await state(db, doomed) == ("failed", 1, "invalid payload")
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_expired_lease_is_taken_over_by_another_worker(url: str) -> None:
    """A worker that crashed (stopped renewing) loses its job to another node's worker."""

    async def scenario() -> None:
        node_a, node_b = Database(url), Database(url)
        try:
            crashed = JobQueue(node_a, "node-a/1", lease=SHORT)
            rescuer = JobQueue(node_b, "node-b/1", lease=timedelta(minutes=5))
            job_id = await crashed.enqueue("replicate", {"repository": "ns/app"})
            (held,) = await crashed.lease()
            assert await rescuer.lease() == []  # still leased

            renewed = await crashed.extend(held)  # a live worker renews
            assert renewed is not None
            await asyncio.sleep(SHORT.total_seconds() / 2)
            assert await rescuer.lease() == []

            await asyncio.sleep(SHORT.total_seconds() + 0.2)  # ...then stops: lease expires
            (taken,) = await rescuer.lease()
            assert (taken.id, taken.attempt, taken.payload) == (job_id, 2, {"repository": "ns/app"})
            # The old holder is fenced off: it can neither finish, fail nor renew the job.
            assert not await crashed.complete(held)
            assert not await crashed.fail(held, "late")
            assert await crashed.extend(held) is None
            assert await state(node_a, job_id) == ("running", 2, None)
            assert await rescuer.complete(taken)
            assert await state(node_a, job_id) is None
        finally:
            await node_a.dispose()
            await node_b.dispose()

    asyncio.run(scenario())


def test_lease_expired_on_last_attempt_fails_the_job(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            queue = JobQueue(db, "w1", lease=timedelta(milliseconds=100), max_attempts=2)
            job_id = await queue.enqueue("crashy", {})
            for attempt in (1, 2):
                (job,) = await queue.lease()
                assert job.attempt == attempt
                await asyncio.sleep(0.2)  # the worker dies with the job
            assert await queue.lease() == []
            job_state = await state(db, job_id)
            assert job_state is not None and job_state[:2] == ("failed", 2)
            assert "expired" in (job_state[2] or "")
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_concurrent_leasers_never_share_a_job(url: str) -> None:
    """Two nodes, several leasing loops each: every job leased exactly once."""
    jobs = 60

    async def scenario() -> None:
        nodes = [Database(url), Database(url)]
        try:
            producer = JobQueue(nodes[0], "producer")
            for i in range(jobs):
                await producer.enqueue("work", {"i": i})
            leased: list[tuple[str, LeasedJob]] = []

            async def worker(name: str, db: Database) -> None:
                queue = JobQueue(db, name)
                while True:
                    batch = await queue.lease(limit=3)
                    if not batch:
                        return
                    for job in batch:
                        leased.append((name, job))
                        await asyncio.sleep(0)
                        assert await queue.complete(job)

            await asyncio.gather(
                *(worker(f"node{n}/w{k}", nodes[n]) for n in range(2) for k in range(4))
            )
            counts = Counter(job.id for _, job in leased)
            assert len(counts) == jobs
            assert max(counts.values()) == 1
            assert {job.attempt for _, job in leased} == {1}
            assert sorted(int(job.payload["i"]) for _, job in leased) == list(range(jobs))
            async with nodes[0].read() as session:
                assert await jq.count_jobs(session) == 0
        finally:
            for db in nodes:
                await db.dispose()

    asyncio.run(scenario())
