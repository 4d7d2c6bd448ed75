"""A replication task whose job the queue gives up ends ``Failed`` with the queue's
reason, on SQLite and on a real PostgreSQL: abandoned leases (a worker that dies with the
job on every attempt) and a handler that fails its last attempt."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from tests.integration.test_background_work import INSTANCE, with_instance

from dockyard.clock import SYSTEM_CLOCK
from dockyard.metadata.queries import replication as q
from dockyard.metadata.session import Database
from dockyard.services.jobs import JobQueue
from dockyard.services.replication import TASK_JOB_KIND, task_given_up
from dockyard.services.replication.service import TaskSource, TaskTarget, queue_task

pytestmark = pytest.mark.integration

SHORT = timedelta(milliseconds=100)


async def new_task(db: Database) -> uuid.UUID:
    async with db.write() as session:
        row = queue_task(
            session,
            TaskSource(INSTANCE, "ns/app", "v1"),
            TaskTarget("elsewhere", "remote", "ns/app", "v1"),
            overwrite=False,
            created_by="test",
            now=SYSTEM_CLOCK.now(),
        )
        row.status = "Running"  # as the runner left it when its worker died
        return row.id


async def task_state(db: Database, task_id: uuid.UUID) -> tuple[str, str | None, bool]:
    async with db.read() as session:
        task = await q.find_task(session, task_id)
    assert task is not None
    return task.status, task.reason, task.finished_at is not None


def test_a_task_whose_leases_all_expired_ends_failed(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            await with_instance(db)
            task_id = await new_task(db)
            queue = JobQueue(
                db, "w1", lease=SHORT, max_attempts=2, given_up={TASK_JOB_KIND: task_given_up}
            )
            for attempt in (1, 2):
                (job,) = await queue.lease([TASK_JOB_KIND])
                assert job.attempt == attempt
                await asyncio.sleep(0.2)  # the worker dies with the job
            assert await task_state(db, task_id) == ("Running", None, False)
            assert await queue.lease([TASK_JOB_KIND]) == []
            status, reason, finished = await task_state(db, task_id)
            assert (status, finished) == ("Failed", True)
            assert reason == "given up after 2 attempts: lease of w1 expired on attempt 2 of 2"
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_task_whose_last_attempt_failed_ends_failed(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            await with_instance(db)
            task_id = await new_task(db)
            queue = JobQueue(db, "w1", max_attempts=1, given_up={TASK_JOB_KIND: task_given_up})
            (job,) = await queue.lease([TASK_JOB_KIND])
            assert await queue.fail(job, "RuntimeError('storage gone')")
            status, reason, _ = await task_state(db, task_id)
            assert status == "Failed"
            assert reason == "given up after 1 attempts: RuntimeError('storage gone')"
        finally:
            await db.dispose()

    asyncio.run(scenario())
