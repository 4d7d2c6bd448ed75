"""What one background worker process does: run jobs, dispatch the outbox, schedule.

A :class:`BackgroundWorker` runs three loops until told to stop:

* **jobs**: lease ready jobs from the queue (``dockyard.services.jobs``), up to
  ``concurrency`` of them running at once (handlers mostly wait on the network or the
  database, so one process keeps many in flight), run the handler registered for each
  kind (``dockyard.services.jobs.JobHandler``), renew the lease while the handler runs,
  then complete the job (unless the handler completed it in its own transaction) — or
  fail it, to be retried with backoff, or for good on
  ``PermanentJobError`` or after the last attempt;
* **dispatch**: move unpublished outbox events into their subscribers' jobs
  (``dockyard.services.outbox.OutboxDispatcher``);
* **schedule**: enqueue the periodic jobs that fell due (``dockyard.services.jobs.Scheduler``;
  one process of the deployment wins each due time).

Idle loops poll with a read-only query first, so an idle worker never takes SQLite's write
lock. Stopping (SIGTERM): dispatching and scheduling stop at once (their transactions roll
back if cut short); running jobs get ``grace`` seconds to finish, after which they are
abandoned and their leases lapse, so another worker runs them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from dockyard.services.jobs import (
    COMPLETED,
    JobHandler,
    JobQueue,
    LeasedJob,
    PermanentJobError,
    Scheduler,
)
from dockyard.services.outbox import OutboxDispatcher

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Timing:
    """How often the loops look for work, and how long stopping may wait for a job."""

    #: Seconds between looks for jobs or events when there were none (jittered).
    poll: float = 0.5
    #: Seconds between looks for due periodic jobs (or the shortest interval, if shorter).
    schedule: float = 5.0
    #: Seconds running jobs may take to finish after SIGTERM.
    grace: float = 30.0
    #: Jobs one process runs at the same time.
    concurrency: int = 16


class BackgroundWorker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        dispatcher: OutboxDispatcher,
        scheduler: Scheduler,
        timing: Timing = Timing(),
    ) -> None:
        self._queue = queue
        self._handlers = dict(handlers)
        self._kinds = sorted(self._handlers)
        self._dispatcher = dispatcher
        self._scheduler = scheduler
        self._timing = timing
        self._stop = asyncio.Event()
        #: Set when a running job ends (the next job of its ordering key may be ready now)
        #: or dispatching queued jobs: the jobs loop looks again without waiting its poll.
        self._work_may_be_ready = asyncio.Event()

    def stop(self) -> None:
        """Ask the loops to finish (safe to call from a signal handler, more than once)."""
        self._stop.set()

    async def run(self) -> None:
        """Run until :meth:`stop`; then give a running job its grace period."""
        log.info("background worker started", worker=self._queue.worker_id, kinds=self._kinds)
        every = self._timing.schedule
        if (shortest := self._scheduler.shortest_interval) is not None:
            every = min(every, shortest.total_seconds())
        jobs = asyncio.create_task(self._jobs_loop())
        others = [
            asyncio.create_task(self._loop("dispatch", self._dispatch, self._timing.poll)),
            asyncio.create_task(self._loop("schedule", self._schedule, every)),
        ]
        await self._stop.wait()
        for task in others:
            task.cancel()
        try:
            await asyncio.wait_for(jobs, self._timing.grace)
        except TimeoutError:
            log.warning("jobs outlived the shutdown grace period; their leases will lapse")
        for task in others:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("background worker stopped", worker=self._queue.worker_id)

    async def _pause(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep about ``seconds`` (jittered so workers spread out), or until stopped, or
        until ``wake`` is set (then clear it)."""
        waits = [asyncio.ensure_future(self._stop.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(
                waits,
                timeout=seconds * random.uniform(0.5, 1.5),  # noqa: S311
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in waits:
                waiter.cancel()
        if wake is not None:
            wake.clear()

    async def _loop(self, name: str, step: Callable[[], Awaitable[bool]], every: float) -> None:
        """Run ``step`` again at once while it found work, else after a pause."""
        while not self._stop.is_set():
            try:
                busy = await step()
            except Exception:
                log.exception("background loop failed; trying again", loop=name)
                busy = False
            if not busy:
                await self._pause(every)

    async def _dispatch(self) -> bool:
        if not await self._dispatcher.has_unpublished():
            return False
        if await self._dispatcher.dispatch() == 0:
            return False
        self._work_may_be_ready.set()
        return True

    async def _schedule(self) -> bool:
        for name in await self._scheduler.tick():
            log.info("periodic job queued", job=name)
        return False

    async def _jobs_loop(self) -> None:
        """Keep up to ``concurrency`` jobs running; once stopped, wait for those running."""
        running: set[asyncio.Task[None]] = set()
        try:
            while not self._stop.is_set():
                free = self._timing.concurrency - len(running)
                if free <= 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    leased = await self._lease(free)
                except Exception:
                    log.exception("could not lease a job; trying again")
                    leased = []
                if not leased:
                    await self._pause(self._timing.poll, wake=self._work_may_be_ready)
                    continue
                for job in leased:
                    task = asyncio.create_task(self._run(job))
                    running.add(task)
                    task.add_done_callback(self._job_ended(running))
        finally:
            if running:
                await asyncio.gather(*running)

    def _job_ended(self, running: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def ended(task: asyncio.Task[None]) -> None:
            running.discard(task)
            self._work_may_be_ready.set()

        return ended

    async def _lease(self, limit: int) -> list[LeasedJob]:
        if not self._kinds or not await self._queue.has_ready(self._kinds):
            return []
        return await self._queue.lease(self._kinds, limit=limit)

    async def _run(self, job: LeasedJob) -> None:
        keeper = asyncio.create_task(self._keep_lease(job))
        bound = log.bind(job=str(job.id), kind=job.kind, attempt=job.attempt)
        try:
            outcome = await self._handlers[job.kind](job)
        except PermanentJobError as exc:
            bound.warning("job failed for good", error=str(exc))
            await self._finish(self._queue.fail(job, str(exc), retry=False))
        except Exception as exc:
            bound.warning("job failed; it will be retried", error=repr(exc))
            await self._finish(self._queue.fail(job, repr(exc)))
        else:
            if outcome != COMPLETED:
                await self._finish(self._queue.complete(job))
        finally:
            keeper.cancel()

    async def _finish(self, outcome: Awaitable[bool]) -> None:
        try:
            if not await outcome:
                log.warning("job lease was lost before the job finished; another worker has it")
        except Exception:
            log.exception("could not record a job's outcome; its lease will lapse")

    async def _keep_lease(self, job: LeasedJob) -> None:
        """Renew the lease every third of its length while the handler runs."""
        period = self._queue.lease_duration.total_seconds() / 3
        current: LeasedJob | None = job
        while current is not None:
            await asyncio.sleep(period)
            try:
                current = await self._queue.extend(current)
            except Exception:
                log.exception("could not renew a job's lease", job=str(job.id))
