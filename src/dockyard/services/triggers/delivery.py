"""From a pushed tag to a webhook POST: the ``triggers`` subscriber and the delivery jobs.

* :class:`TriggerSubscriber` (an outbox subscriber wanting ``TagUpdated``) writes, for each
  trigger of the repository and in one write transaction, a log record: ``Untriggered``
  with the reason, or ``Pending`` plus an un-keyed ``trigger-delivery`` job. The unique
  ``(trigger, event)`` key makes a re-run of the subscriber add nothing.
* :class:`TriggerDeliverer` runs a delivery job: one POST through the :class:`Outbound`
  client, then — in one transaction — the attempt's outcome on the record and, when it is
  worth another try, the job of the next attempt after an exponential backoff. Each job
  names its attempt and the record counts attempts, so a job run again after a crash finds
  its attempt recorded and does nothing (a crash between the POST and the record sends the
  same delivery id again: at-least-once, duplicates only as retries of one id).

Both write without waiting for the disk: a record lost in a power cut is written again
when its job runs again (the delivery then goes out twice, with one id).

The delivery id (the record's id) is the same on every attempt; a manual redelivery makes
a new record with a new id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import orjson
from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard import __version__
from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.events import EventType
from dockyard.metadata.models import Trigger
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.queries import triggers as q
from dockyard.metadata.session import Database
from dockyard.services.jobs import COMPLETED, JobRun, complete_in
from dockyard.services.outbox import Event
from dockyard.services.secrets import MasterKey
from dockyard.services.triggers.rules import MatchRule, Mode
from dockyard.services.triggers.views import FAILED, PENDING, TRIGGERED, UNTRIGGERED

SUBSCRIBER_NAME = "triggers"
DELIVERY_JOB_KIND = "trigger-delivery"
SECRET_PURPOSE = "trigger-secret"  # noqa: S105 - the key's purpose label, not a secret
PUSH_EVENT_TYPE = "io.dockyard.image.pushed"
PING_EVENT_TYPE = "io.dockyard.trigger.ping"
DELIVERY_HEADER = "X-Dockyard-Delivery"
TIMESTAMP_HEADER = "X-Dockyard-Timestamp"
SIGNATURE_HEADER = "X-Dockyard-Signature"
EVENT_HEADER = "X-Dockyard-Event"
USER_AGENT = f"Dockyard-Webhook/{__version__}"
#: The longest wait between two attempts, whatever the base.
MAX_BACKOFF_SECONDS = 300.0


class OutboundResponse(Protocol):
    """What a delivery needs of the receiver's answer."""

    @property
    def status(self) -> int: ...

    @property
    def latency_ms(self) -> float: ...


class Outbound(Protocol):
    """The HTTP client deliveries go out through (``dockyard.outbound`` in production).

    It checks every address it connects to against the outbound policy, never follows a
    redirect, and bounds time and response size; it raises :class:`DeliveryError` when no
    answer came (refused address, connection error, timeout)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse: ...


class DeliveryError(Exception):
    """No HTTP answer: ``retryable`` for connection errors and timeouts, not for an address
    the outbound policy refuses."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt, waiting base · 2^(n-1) seconds
    (capped) after failed attempt n."""

    max_retries: int = 8
    base_seconds: float = 2.0

    def backoff(self, attempt: int) -> timedelta:
        seconds = self.base_seconds * 2 ** max(0, attempt - 1)
        return timedelta(seconds=min(MAX_BACKOFF_SECONDS, seconds))


def rule_of(trigger: Trigger) -> MatchRule:
    mode: Mode = trigger.mode  # type: ignore[assignment]  # checked when saved
    return MatchRule(mode, trigger.expression, tuple(trigger.tags or ()))


def delivery_payload(
    *,
    instance: str,
    region: str,
    full_name: str,
    tag: str | None,
    digest: str | None,
    media_type: str | None,
    pushed_at: datetime,
    pushed_by: str | None,
) -> dict[str, object]:
    """The data object every delivery carries (the JSON body, or CloudEvents ``data``)."""
    namespace, repository = full_name.split("/", 1)
    return {
        "instance": instance,
        "region": region,
        "namespace": namespace,
        "repository": repository,
        "tag": tag,
        "digest": digest,
        "mediaType": media_type,
        "pushedAt": pushed_at.isoformat().replace("+00:00", "Z"),
        "pushedBy": pushed_by,
    }


def new_record(
    record_id: uuid.UUID,
    instance_id: str,
    repository_id: uuid.UUID,
    trigger: Trigger,
    payload: dict[str, object],
    now: datetime,
    *,
    event_id: uuid.UUID | None = None,
    status: str = PENDING,
    reason: str | None = None,
    ping: bool = False,
) -> dict[str, object]:
    """The columns of a new log record of ``trigger``, for a push (its ``event_id``), a ping
    or a redelivery alike: tag, digest and media type as ``payload`` names them."""
    tag, digest, media_type = payload.get("tag"), payload.get("digest"), payload.get("mediaType")
    return {
        "id": record_id,
        "instance_id": instance_id,
        "repository_id": repository_id,
        "trigger_id": trigger.id,
        "trigger_name": trigger.name,
        "event_id": event_id,
        "tag": str(tag) if tag else None,
        "digest": str(digest) if digest else None,
        "media_type": str(media_type) if media_type else None,
        "status": status,
        "reason": reason,
        "response_status": None,
        "attempts": 0,
        "latency_ms": None,
        "ping": ping,
        "redelivery_of": None,
        "payload": payload,
        "created_at": now,
        "updated_at": now,
    }


def delivery_job(session: AsyncSession, record_id: uuid.UUID, attempt: int, when: datetime) -> None:
    """Queue attempt ``attempt`` of a delivery in the caller's transaction (un-keyed: one
    failing receiver never holds back another delivery)."""
    payload: dict[str, object] = {"delivery": str(record_id), "attempt": attempt}
    jq.add_job(session, DELIVERY_JOB_KIND, payload, when)


@dataclass(frozen=True, slots=True)
class DeliveryRequest:
    """What a delivery sends, the same on every attempt."""

    #: The delivery id: the log record's.
    id: uuid.UUID
    payload: dict[str, object]
    ping: bool


def encode_request(
    record: DeliveryRequest, cloudevents: bool, secret: bytes | None, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt (the body is the same on every attempt)."""
    data = dict(record.payload)
    event_name = "ping" if record.ping else "push"
    if cloudevents:
        pushed_at = datetime.fromisoformat(str(data["pushedAt"]).replace("Z", "+00:00"))
        event = CloudEvent(
            {
                "id": str(record.id),
                "source": (
                    f"/instances/{data['instance']}/namespaces/{data['namespace']}"
                    f"/repositories/{data['repository']}"
                ),
                "type": PING_EVENT_TYPE if record.ping else PUSH_EVENT_TYPE,
                "specversion": "1.0",
                "time": pushed_at,
                "datacontenttype": "application/json",
                **({"subject": str(data["tag"])} if data.get("tag") else {}),
            },
            data,
        )
        message = to_structured(event, JSONFormat())
        body = message.body
        headers = dict(message.headers)
        headers["ce-id"] = str(record.id)
    else:
        body = orjson.dumps(data)
        headers = {"Content-Type": "application/json"}
    timestamp = str(int(now.timestamp()))
    headers.update(
        {
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: str(record.id),
            TIMESTAMP_HEADER: timestamp,
            EVENT_HEADER: event_name,
        }
    )
    if secret is not None:
        headers[SIGNATURE_HEADER] = "sha256=" + sign(secret, timestamp, body)
    return body, headers


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"``: what a receiver recomputes to check."""
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class TriggerSubscriber:
    """Logs every tag push for every trigger of its repository and queues the deliveries."""

    name = SUBSCRIBER_NAME
    wants = frozenset({EventType.TAG_UPDATED})

    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._clock = clock

    async def concerned(self, session: AsyncSession, events: Sequence[Event]) -> Sequence[Event]:
        """Tag pushes to repositories that have a trigger now: what :meth:`handle`, run
        now, would log (a trigger committed later races the push either way)."""
        names: dict[str, set[str]] = {}
        for event in events:
            if event.repository is not None and isinstance(event.payload.get("tag"), str):
                names.setdefault(event.instance_id, set()).add(event.repository)
        with_triggers = {
            (instance_id, full_name)
            for instance_id, full_names in names.items()
            for full_name in await q.repositories_with_triggers(
                session, instance_id, sorted(full_names)
            )
        }
        return [e for e in events if (e.instance_id, e.repository) in with_triggers]

    async def handle(self, events: Sequence[Event]) -> None:
        """All the records and deliveries of ``events`` (one repository's, oldest first)
        in one write transaction."""
        async with self._db.write(durable=False) as session:
            found: dict[tuple[str, str], _Target | None] = {}
            for event in events:
                full_name, tag = event.repository, event.payload.get("tag")
                if full_name is None or not isinstance(tag, str):
                    continue
                where = (event.instance_id, full_name)
                if where not in found:
                    found[where] = await _target(session, *where)
                target = found[where]
                if target is not None:
                    await self._record(session, target, event, tag)

    async def _record(self, session: AsyncSession, target: _Target, event: Event, tag: str) -> None:
        digest = event.payload.get("digest")
        media_type = event.payload.get("mediaType")
        pushed_by = event.payload.get("pushedBy")
        payload = delivery_payload(
            instance=event.instance_id,
            region=target.region,
            full_name=str(event.repository),
            tag=tag,
            digest=str(digest) if digest else None,
            media_type=str(media_type) if media_type else None,
            pushed_at=event.created_at,
            pushed_by=str(pushed_by) if pushed_by else None,
        )
        now = self._clock.now()
        for trigger in target.triggers:
            if trigger.created_at > event.created_at:
                continue  # made after the push: the push is not its to log or deliver
            refusal = rule_of(trigger).refusal(tag)
            record_id = uuid.uuid4()
            values = new_record(
                record_id,
                event.instance_id,
                target.repository_id,
                trigger,
                payload,
                now,
                event_id=event.id,
                status=PENDING if refusal is None else UNTRIGGERED,
                reason=refusal,
            )
            inserted = await q.record_once(session, **values)
            if inserted and refusal is None:
                delivery_job(session, record_id, 1, now)


@dataclass(frozen=True, slots=True)
class _Target:
    """What a push's records need of its repository: found once per subscriber job."""

    repository_id: uuid.UUID
    region: str
    triggers: Sequence[Trigger]


async def _target(session: AsyncSession, instance_id: str, full_name: str) -> _Target | None:
    """None when the repository (deleted since the push) or its triggers are gone."""
    repo = await tq.find_repository(session, instance_id, full_name)
    instance = await tq.find_instance(session, instance_id)
    if repo is None or instance is None:
        return None
    triggers = await q.list_triggers(session, repo.id)
    return _Target(repo.id, instance.region, triggers) if triggers else None


class TriggerDeliverer:
    """Runs ``trigger-delivery`` jobs: one attempt each, the next one queued if worth it."""

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        outbound: Outbound,
        policy: RetryPolicy,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._master = master
        self._outbound = outbound
        self._policy = policy
        self._clock = clock
        self._outcomes = _OutcomeWriter(db, clock)

    async def run(self, job: JobRun) -> str | None:
        record_id = uuid.UUID(str(job.payload["delivery"]))
        attempt = int(str(job.payload["attempt"]))
        async with self._db.read() as session:
            found = await q.attempt_inputs(session, record_id)
        if found is None or found.status != PENDING or found.attempts >= attempt:
            return None  # pruned, finished, or this attempt was recorded before a crash
        if found.trigger_id is None:
            return await self._record(job, FAILED, "the trigger was deleted")
        secret = (
            self._master.decrypt(found.secret_encrypted, SECRET_PURPOSE)
            if found.secret_encrypted
            else None
        )
        request = DeliveryRequest(record_id, dict(found.payload), found.ping)
        body, headers = encode_request(request, found.cloudevents, secret, self._clock.now())
        url = found.url
        try:
            response = await self._outbound.post(url, body, headers)
        except DeliveryError as exc:
            return await self._outcome(job, exc.reason, retry=exc.retryable)
        code, latency = response.status, response.latency_ms
        if 200 <= code < 300:
            return await self._record(job, TRIGGERED, None, code=code, latency=latency)
        why = f"the receiver answered {code}"
        if 300 <= code < 400:
            why += " (a redirect; redirects are not followed)"
        retry = code == 429 or code >= 500
        return await self._outcome(job, why, retry=retry, code=code, latency=latency)

    async def _outcome(
        self,
        job: JobRun,
        why: str,
        *,
        retry: bool,
        code: int | None = None,
        latency: float | None = None,
    ) -> str | None:
        """A failed attempt: Pending with the next attempt queued, or Failed for good."""
        attempt = int(str(job.payload["attempt"]))
        if not retry:
            return await self._record(job, FAILED, why, code=code, latency=latency)
        if attempt > self._policy.max_retries:
            reason = f"{why}; gave up after {attempt} attempts"
            return await self._record(job, FAILED, reason, code=code, latency=latency)
        wait = self._policy.backoff(attempt)
        reason = f"{why}; attempt {attempt + 1} in {wait.total_seconds():g} s"
        return await self._record(job, PENDING, reason, code=code, latency=latency, retry=wait)

    async def _record(
        self,
        job: JobRun,
        status: str,
        reason: str | None,
        *,
        code: int | None = None,
        latency: float | None = None,
        retry: timedelta | None = None,
    ) -> str | None:
        """The attempt's outcome, the next attempt's job when ``retry``, and the end of
        this job, committed with the outcomes of the attempts that ended meanwhile."""
        outcome = _Outcome(job, status, reason, code, latency, retry)
        return COMPLETED if await self._outcomes.write(outcome) else None


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: JobRun
    status: str
    reason: str | None
    code: int | None
    latency: float | None
    retry: timedelta | None


class _OutcomeWriter:
    """Writes attempts' outcomes in shared transactions (a group commit): an outcome that
    arrives while a write is under way goes into the next one, with every other that
    arrived meanwhile. Alone it is written at once; under load the worker takes SQLite's
    write lock once per batch instead of once per delivery, which is what it costs the
    pushes it shares the database with. Each caller learns when its own outcome is
    committed (and whether its job was completed with it)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._waiting: list[tuple[_Outcome, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, outcome: _Outcome) -> bool:
        """True when the outcome's job was completed in the same transaction."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await asyncio.shield(done)

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                completed = await self._write(batch)
            except Exception as exc:  # every attempt of the batch fails: retried later
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for (_, done), finished in zip(batch, completed, strict=True):
                    if not done.done():
                        done.set_result(finished)

    async def _write(self, batch: list[tuple[_Outcome, asyncio.Future[bool]]]) -> list[bool]:
        now = self._clock.now()
        completed = []
        async with self._db.write(durable=False) as session:
            for outcome, _ in batch:
                job = outcome.job
                record_id = uuid.UUID(str(job.payload["delivery"]))
                attempt = int(str(job.payload["attempt"]))
                recorded = await q.finish_attempt(
                    session,
                    record_id,
                    attempt,
                    status=outcome.status,
                    reason=outcome.reason,
                    response_status=outcome.code,
                    latency_ms=outcome.latency,
                    updated_at=now,
                )
                if recorded and outcome.retry is not None:
                    delivery_job(session, record_id, attempt + 1, now + outcome.retry)
                # A job whose lease passed to another worker is left to it: the outcome
                # stands (the record counts attempts, so that worker's copy of the same
                # attempt records nothing).
                completed.append(await complete_in(session, job))
        return completed
