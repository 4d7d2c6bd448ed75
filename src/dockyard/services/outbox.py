"""The outbox dispatcher: hands every domain event to the subscribers that want it.

Interface for subscribers (triggers now; replication, scanning and audit later):

* A :class:`Subscriber` has a ``name`` (``[a-z0-9-]``, unique), the set of
  :class:`~dockyard.events.EventType` it ``wants``, ``concerned(session, events)``, which
  keeps those of the wanted events it has something to do for (read in the dispatch
  transaction: a push to a repository without triggers queues no job at all), and
  ``handle(events)``, an idempotent coroutine run by a background worker for the kept
  events, oldest first.
* Register it in the composition root (``dockyard.bootstrap``): the dispatcher then
  queues jobs of kind ``event:<name>`` (:func:`event_job_kind`) for the wanted events, and
  the worker runtime runs ``subscriber_handler(subscriber)`` for that kind. The job's
  payload is ``{"events": [...]}``, each as :meth:`Event.to_payload` makes it (id, type,
  instance_id, payload, created_at).
* Events that concern one repository are handed to a subscriber in order: their jobs share
  the ordering key ``<name>:<instance>/<repository>``, and the queue runs the jobs of one
  key one at a time, oldest first. While a key's newest job has not started yet, newly
  dispatched events of the key join it (up to ``EVENTS_PER_JOB``) instead of queueing a
  job each: under a burst of pushes a subscriber takes many events in one go, with one
  transaction, instead of paying a job's lease and completion per event. A job that has
  run once (it failed and waits for a retry) takes no more events, so a failing event
  never drags later ones down with it. Events without a repository get a job each, with
  no key. A subscriber
  that must not stall later events behind a failing one (webhook deliveries) makes each
  slow, failure-prone piece of work its own un-keyed job from inside ``handle``
  (``metadata.queries.jobs.add_job`` in the write transaction that records it), with its
  own kind, whose handler the composition root registers beside the subscriber's.

Guarantees: the dispatcher claims unpublished rows (``published_at IS NULL``) and, in the
same transaction that marks them published, queues the subscribers' jobs — an event is
marked published exactly when its jobs exist, whichever process dies when. That
transaction does not wait for the disk: in a power cut it is lost whole, and the events,
committed durably by their changes, are dispatched again. From there the
queue's leases make delivery at-least-once. A slow or failing subscriber delays no other:
each has its own jobs and ordering keys. Published rows are pruned after a retention
period by the ``prune-events`` periodic job (:meth:`OutboxDispatcher.prune`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.events import EventType
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import outbox as oq
from dockyard.metadata.session import Database
from dockyard.services.batches import PRUNE_BATCH, PRUNE_MAX_BATCHES, delete_in_batches
from dockyard.services.jobs import JobHandler, JobRun

DISPATCH_BATCH = 100
#: The most events one subscriber job carries.
EVENTS_PER_JOB = 100
EVENT_JOB_PREFIX = "event:"


@dataclass(frozen=True, slots=True)
class Event:
    """A published domain event, as a subscriber receives it."""

    id: uuid.UUID
    type: EventType
    instance_id: str
    payload: dict[str, object]
    #: When the change committed its event (the writer's clock).
    created_at: datetime

    @property
    def repository(self) -> str | None:
        """The repository (``namespace/name``) the event concerns, if any."""
        value = self.payload.get("repository")
        return value if isinstance(value, str) else None

    def to_payload(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "type": str(self.type),
            "instance_id": self.instance_id,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_payload(cls, data: dict[str, object]) -> Event:
        payload = data["payload"]
        if not isinstance(payload, dict):
            raise ValueError("an event job's payload carries the event's payload as an object")
        return cls(
            id=uuid.UUID(str(data["id"])),
            type=EventType(str(data["type"])),
            instance_id=str(data["instance_id"]),
            payload=payload,
            created_at=datetime.fromisoformat(str(data["created_at"])),
        )


class Subscriber(Protocol):
    """Something that reacts to domain events, outside the request that caused them."""

    @property
    def name(self) -> str: ...

    @property
    def wants(self) -> frozenset[EventType]: ...

    async def concerned(self, session: AsyncSession, events: Sequence[Event]) -> Sequence[Event]:
        """The events (of those it wants) worth a job, in their order; read-only. What it
        drops is never handed over, so it must only drop what ``handle`` would ignore
        whenever it ran."""
        ...

    async def handle(self, events: Sequence[Event]) -> None:
        """React to events, oldest first (all of one repository, or a single event that
        concerns none); idempotent: they may be handed over again after a crash."""
        ...


def event_job_kind(subscriber_name: str) -> str:
    return f"{EVENT_JOB_PREFIX}{subscriber_name}"


def ordering_key(subscriber_name: str, event: Event) -> str | None:
    """Events of one repository reach one subscriber in order; others in any order."""
    repository = event.repository
    if repository is None:
        return None
    return f"{subscriber_name}:{event.instance_id}/{repository}"


def subscriber_handler(subscriber: Subscriber) -> JobHandler:
    """The job handler that runs ``subscriber`` for its ``event:<name>`` jobs."""

    async def run(job: JobRun) -> None:
        await subscriber.handle(events_of(job.payload))

    return run


def job_payload(events: Sequence[Event]) -> dict[str, object]:
    """An ``event:<name>`` job's payload."""
    return {"events": [event.to_payload() for event in events]}


def events_of(payload: dict[str, object]) -> list[Event]:
    """The events an ``event:<name>`` job carries, oldest first."""
    events = payload.get("events")
    if not isinstance(events, list):
        raise ValueError("an event job's payload carries a list of events")
    return [Event.from_payload(event) for event in events]


class OutboxDispatcher:
    """Moves published-to-be events from the outbox into the subscribers' jobs."""

    def __init__(
        self,
        db: Database,
        subscribers: Sequence[Subscriber],
        *,
        retention: timedelta,
        clock: Clock = SYSTEM_CLOCK,
        batch: int = DISPATCH_BATCH,
    ) -> None:
        names = [s.name for s in subscribers]
        if len(set(names)) != len(names):
            raise ValueError(f"subscriber names must be unique: {names}")
        self._db = db
        self._subscribers = tuple(subscribers)
        self._retention = retention
        self._clock = clock
        self._batch = batch

    async def dispatch(self) -> int:
        """Claim one batch of unpublished events and queue their jobs; how many events.

        A full batch means more may be waiting: call again at once.
        """
        async with self._db.write(durable=False) as session:
            rows = await oq.claim_unpublished(session, self._batch)
            now = self._clock.now()  # after the claim: batches are claimed in turn
            wanted: dict[str, list[Event]] = {s.name: [] for s in self._subscribers}
            for row in rows:
                row.published_at = now
                event = Event(
                    row.id, EventType(row.type), row.instance_id, dict(row.payload), row.created_at
                )
                for subscriber in self._subscribers:
                    if event.type in subscriber.wants:
                        wanted[subscriber.name].append(event)
            keyed: dict[tuple[str, str], list[Event]] = {}
            for subscriber in self._subscribers:
                events = wanted[subscriber.name]
                kind = event_job_kind(subscriber.name)
                for event in await subscriber.concerned(session, events) if events else ():
                    key = ordering_key(subscriber.name, event)
                    if key is None:
                        jq.add_job(session, kind, job_payload([event]), now)
                    else:
                        keyed.setdefault((kind, key), []).append(event)
            await self._queue_in_order(session, keyed, now)
        return len(rows)

    async def _queue_in_order(
        self, session: AsyncSession, keyed: dict[tuple[str, str], list[Event]], now: datetime
    ) -> None:
        """Add each key's events to its newest job while that has not started, then queue
        new jobs after it, each created later than every earlier job of its key."""
        keys = sorted(key for _, key in keyed)
        latest = await jq.latest_created_at(session, keys)
        open_jobs = await jq.lock_unstarted_newest(session, keys)
        for (kind, key), events in keyed.items():
            job = open_jobs.get(key)
            taken = job.payload.get("events") if job is not None and job.kind == kind else None
            if job is not None and isinstance(taken, list) and len(taken) < EVENTS_PER_JOB:
                room = EVENTS_PER_JOB - len(taken)
                job.payload = {"events": [*taken, *(e.to_payload() for e in events[:room])]}
                events = events[room:]
            for start in range(0, len(events), EVENTS_PER_JOB):
                jq.add_job(
                    session,
                    kind,
                    job_payload(events[start : start + EVENTS_PER_JOB]),
                    now,
                    ordering_key=key,
                    created_at=_next_in_order(now, latest, key),
                )

    async def has_unpublished(self) -> bool:
        """A read-only look, so idle workers poll without taking the write lock."""
        async with self._db.read() as session:
            return await oq.has_unpublished(session)

    async def prune(self) -> int:
        """Delete events published longer ago than the retention period; how many went."""
        cutoff = self._clock.now() - self._retention
        return await delete_in_batches(
            self._db,
            lambda session, limit: oq.prune_published(session, cutoff, limit),
            batch_size=PRUNE_BATCH,
            max_batches=PRUNE_MAX_BATCHES,
        )


def _next_in_order(now: datetime, latest: dict[str, datetime], key: str | None) -> datetime:
    """A creation time after every earlier job of ``key``, even one queued by a node whose
    clock runs ahead, or earlier in this batch (the clock may repeat itself)."""
    if key is None:
        return now
    previous = latest.get(key)
    when = now if previous is None or previous < now else previous + timedelta(microseconds=1)
    latest[key] = when
    return when
