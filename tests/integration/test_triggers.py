"""Triggers end to end below the HTTP faces, on SQLite and on a real PostgreSQL: pushes
through the content service, the outbox dispatcher, the ``triggers`` subscriber and the
delivery jobs, POSTing to a real HTTP receiver on 127.0.0.1 (admitted by the outbound
policy, which refuses loopback by default)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_structured_event
from sqlalchemy import func, select

from dockyard.bootstrap import make_outbound
from dockyard.metadata import migrate
from dockyard.metadata.models import Account, Instance, Job, OutboxEvent, TriggerDelivery
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService
from dockyard.services.jobs import JobHandler, JobQueue, JobRun
from dockyard.services.outbox import OutboxDispatcher, event_job_kind, events_of, subscriber_handler
from dockyard.services.paging import PageRequest
from dockyard.services.secrets import MasterKey
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.services.triggers import (
    DELIVERY_JOB_KIND,
    RetryPolicy,
    TriggerChanges,
    TriggerDeliverer,
    TriggerSpec,
    TriggersService,
    TriggerSubscriber,
)
from dockyard.settings import Settings
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

INSTANCE = "default"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
ADMIN = Actor("admin")
#: The settings the deliveries' outbound client is made from: the policy refuses loopback
#: by default, and the receiver listens on 127.0.0.1.
LOOPBACK_ALLOWED = Settings(webhook_allowed_cidrs=["127.0.0.0/8"])
#: Short waits between attempts, so retries happen within a test.
FAST = RetryPolicy(max_retries=3, base_seconds=0.05)


# ---- a real HTTP receiver --------------------------------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["x-dockyard-delivery"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next queued status (200 once the queue is empty)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Delivery] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ids(self) -> set[str]:
        return {d.id for d in self.received}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.received.append(
                    Delivery({k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# ---- the system under test -------------------------------------------------------------


class Harness:
    """The services of one node, driven by hand: dispatch, then run every ready job."""

    def __init__(self, url: str, root: Path, policy: RetryPolicy) -> None:
        self.db = Database(url)
        audit = AuditLog(self.db)
        self.master = MasterKey(b"k" * 32)
        self.tenancy = TenancyService(self.db, audit)
        self.content = ContentService(self.db, FilesystemBlobStore(root), timedelta(hours=1))
        self.triggers = TriggersService(self.db, self.master, audit)
        self.subscriber = TriggerSubscriber(self.db)
        self.outbound = make_outbound(LOOPBACK_ALLOWED)
        self.deliverer = TriggerDeliverer(self.db, self.master, self.outbound, policy)
        self.dispatcher = OutboxDispatcher(self.db, [self.subscriber], retention=timedelta(days=1))
        self.queue = JobQueue(self.db, "test-worker")
        self.handlers: dict[str, JobHandler] = {
            event_job_kind(self.subscriber.name): subscriber_handler(self.subscriber),
            DELIVERY_JOB_KIND: self.deliverer.run,
        }

    async def start(self) -> RepositoryRef:
        async with self.db.write() as session:
            account = Account(arn_id="1234567890123456", name="test")
            session.add(account)
            await session.flush()
            session.add(
                Instance(
                    id=INSTANCE,
                    account_id=account.id,
                    name="default",
                    region="local",
                    edition="Advanced",
                )
            )
        self.repo = await self.tenancy.ensure_repository(INSTANCE, RepositoryName.parse("ns/app"))
        return self.repo

    async def close(self) -> None:
        await self.outbound.aclose()
        await self.db.dispose()

    async def trigger(self, name: str, mode: str = "every", **spec: Any) -> str | None:
        view = await self.triggers.create(
            self.repo,
            TriggerSpec(name, spec.pop("url"), mode, **spec),
            actor=ADMIN,
            resource="arn",
        )
        return view.secret

    async def push(self, tag: str, seed: str | None = None) -> str:
        """Push a one-layer image under ``tag``; its digest."""
        seed = seed or tag
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
        layer = f"layer {seed}".encode() * 20
        descriptors = []
        for media_type, data in ((mt.OCI_IMAGE_CONFIG, config), (LAYER_TYPE, layer)):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            await self.content.monolithic_upload(self.repo, digest, _body(data))
            descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": descriptors[0],
                "layers": descriptors[1:],
            }
        ).encode()
        pushed = await self.content.put_manifest(self.repo, tag, manifest, mt.OCI_MANIFEST, "alice")
        return pushed.digest

    async def run_background(self) -> None:
        """Dispatch events and run jobs until nothing is queued (waiting out backoffs)."""
        while True:
            while await self.dispatcher.dispatch():
                pass
            leased = await self.queue.lease(list(self.handlers), limit=10)
            for job in leased:
                await self.handlers[job.kind](JobRun(job.id, job.kind, job.payload, job.attempt))
                assert await self.queue.complete(job)
            if leased:
                continue
            if not await self.count(Job) and not await self.unpublished():
                return
            await asyncio.sleep(0.02)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.read() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(stmt)).scalar_one())

    async def unpublished(self) -> int:
        return await self.count(OutboxEvent, OutboxEvent.published_at.is_(None))

    async def log(self, **filters: Any) -> list[Any]:
        page = await self.triggers.log(self.repo, PageRequest(1, 100), **filters)
        return page.items


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def scenario(url: str, tmp_path: Path, policy: RetryPolicy = FAST) -> Any:
    """Decorator: run ``steps(harness)`` on a started harness, then close it."""

    def run(steps: Any) -> None:
        async def main() -> None:
            h = Harness(url, tmp_path / "storage", policy)
            try:
                await h.start()
                await steps(h)
            finally:
                await h.close()

        asyncio.run(main())

    return run


# ---- matching and the log --------------------------------------------------------------


def test_each_trigger_gets_exactly_its_matching_pushes(url, tmp_path, receiver):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("all", url=receiver.url("/all"))
        await h.trigger(
            "releases", "expression", url=receiver.url("/rel"), expression="release-v.*"
        )
        await h.trigger("listed", "tags", url=receiver.url("/listed"), tags=["v1", "v2"])
        digest = await h.push("release-v1")
        await h.push("v2")
        await h.push("x")
        await h.push("v2")  # an identical re-push: no event, nothing logged
        await h.run_background()

        assert len(receiver.received) == len(receiver.ids()) == 5  # 3 + 1 + 1
        body = next(d for d in receiver.received if d.json()["tag"] == "release-v1").json()
        assert body == {
            "instance": INSTANCE,
            "region": "local",
            "namespace": "ns",
            "repository": "app",
            "tag": "release-v1",
            "digest": digest,
            "mediaType": mt.OCI_MANIFEST,
            "pushedAt": body["pushedAt"],
            "pushedBy": "alice",
        }
        assert body["pushedAt"].endswith("Z")
        log = await h.log()
        assert len(log) == 9  # every push, for every trigger
        assert {(r.trigger, r.tag) for r in log if r.status == "Triggered"} == {
            ("all", "release-v1"),
            ("all", "v2"),
            ("all", "x"),
            ("releases", "release-v1"),
            ("listed", "v2"),
        }
        reasons = {(r.trigger, r.tag): r.reason for r in log if r.status == "Untriggered"}
        assert reasons == {
            ("releases", "v2"): 'tag "v2" does not match "release-v.*"',
            ("releases", "x"): 'tag "x" does not match "release-v.*"',
            ("listed", "release-v1"): 'tag "release-v1" is not one of v1, v2',
            ("listed", "x"): 'tag "x" is not one of v1, v2',
        }
        triggered = [r for r in log if r.status == "Triggered"]
        assert all(r.attempts == 1 and r.response_status == 200 for r in triggered)
        assert all(r.latency_ms is not None for r in triggered)
        assert {str(r.id) for r in triggered} == receiver.ids()
        assert [r.tag for r in await h.log(trigger="listed", status="Untriggered")] == [
            "x",
            "release-v1",
        ]


def test_a_push_older_than_the_trigger_is_neither_logged_nor_delivered(url, tmp_path, receiver):
    """The worker may reach a push only after a trigger was added (it lagged, or was
    down): that trigger did not exist at the push, so the push is not its business."""

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.push("before")
        await h.trigger("all", url=receiver.url())
        await h.push("after")
        await h.run_background()
        assert [r.tag for r in await h.log()] == ["after"]
        assert [d.json()["tag"] for d in receiver.received] == ["after"]


def test_a_push_to_a_repository_without_triggers_queues_no_job(url, tmp_path, receiver):
    """Most repositories have no trigger: their pushes must cost the worker nothing but
    the dispatch that marks them published."""

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.push("quiet")
        assert await h.dispatcher.dispatch() > 0
        assert await h.count(Job) == 0
        assert await h.unpublished() == 0
        await h.trigger("all", url=receiver.url())
        await h.push("heard")
        assert await h.dispatcher.dispatch() > 0
        assert await h.count(Job, Job.kind == event_job_kind(h.subscriber.name)) == 1
        await h.run_background()
        assert [r.tag for r in await h.log()] == ["heard"]
        assert [d.json()["tag"] for d in receiver.received] == ["heard"]


class CountingWrites(Database):
    """The metadata database, counting its write units of work."""

    writes = 0

    @contextlib.asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[Any]:
        self.writes += 1
        async with super().write(durable=durable) as session:
            yield session


@dataclass(frozen=True)
class Answered:
    status: int = 200
    latency_ms: float = 1.0


class AnswersAtOnce:
    """A receiver's answer without the network: every attempt of a batch ends in the same
    turn of the event loop, so how they are written does not depend on timing."""

    async def post(self, url: str, body: bytes, headers: Any) -> Answered:
        return Answered()


def test_outcomes_that_end_together_are_written_in_one_transaction(tmp_path, receiver):
    url = f"sqlite:///{tmp_path / 'dockyard.db'}"
    migrate.upgrade(url)

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("all", url=receiver.url())
        for n in range(10):
            await h.push(f"v{n}", seed=str(n))
        await h.dispatcher.dispatch()
        (event_job,) = await h.queue.lease([event_job_kind("triggers")])
        await h.handlers[event_job.kind](event_job)
        assert await h.queue.complete(event_job)
        counting = CountingWrites(url)
        try:
            deliverer = TriggerDeliverer(counting, h.master, AnswersAtOnce(), FAST)
            jobs = await h.queue.lease([DELIVERY_JOB_KIND], limit=20)
            assert len(jobs) == 10
            outcomes = await asyncio.gather(*(deliverer.run(job) for job in jobs))
        finally:
            await counting.dispose()
        assert outcomes == ["completed"] * 10  # each job ended with its outcome
        assert counting.writes == 1
        assert {r.status for r in await h.log()} == {"Triggered"}
        assert await h.count(Job) == 0


def test_a_rerun_of_the_subscriber_records_and_queues_nothing_twice(url, tmp_path, receiver):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("all", url=receiver.url())
        await h.trigger("none", "tags", url=receiver.url(), tags=["never"])
        digest = await h.push("v1")
        await h.dispatcher.dispatch()
        (job,) = await h.queue.lease([event_job_kind("triggers")])
        events = events_of(job.payload)
        await h.subscriber.handle(events)
        await h.subscriber.handle(events)  # the worker died before completing the job
        assert await h.count(TriggerDelivery) == 2
        assert await h.count(Job, Job.kind == DELIVERY_JOB_KIND) == 1
        assert await h.queue.complete(job)
        await h.run_background()
        assert len(receiver.received) == 1
        assert receiver.received[0].json()["digest"] == digest


# ---- attempts --------------------------------------------------------------------------


def test_retried_on_5xx_and_429_with_the_same_delivery_id(url, tmp_path, receiver):
    receiver.statuses = [500, 503, 429]

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("hook", url=receiver.url())
        await h.push("v1")
        await h.run_background()
        assert len(receiver.received) == 4
        assert len(receiver.ids()) == 1
        (record,) = await h.log()
        assert (record.status, record.attempts, record.response_status) == ("Triggered", 4, 200)
        assert str(record.id) in receiver.ids()


def test_retries_used_up_fail_the_delivery(url, tmp_path, receiver):
    receiver.statuses = [500] * 10

    @scenario(url, tmp_path, RetryPolicy(max_retries=2, base_seconds=0.05))
    async def _(h: Harness) -> None:
        await h.trigger("hook", url=receiver.url())
        await h.push("v1")
        await h.run_background()
        assert len(receiver.received) == 3
        (record,) = await h.log()
        assert (record.status, record.attempts, record.response_status) == ("Failed", 3, 500)
        assert record.reason == "the receiver answered 500; gave up after 3 attempts"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (404, "the receiver answered 404"),
        (302, "the receiver answered 302 (a redirect; redirects are not followed)"),
    ],
)
def test_other_4xx_and_redirects_are_final(url, tmp_path, receiver, answer, reason):
    receiver.statuses = [answer]

    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("hook", url=receiver.url())
        await h.push("v1")
        await h.run_background()
        assert len(receiver.received) == 1
        (record,) = await h.log()
        assert (record.status, record.attempts, record.response_status) == ("Failed", 1, answer)
        assert record.reason == reason


def test_no_answer_is_retried_then_failed(url, tmp_path):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more

    @scenario(url, tmp_path, RetryPolicy(max_retries=1, base_seconds=0.05))
    async def _(h: Harness) -> None:
        await h.trigger("hook", url=f"http://127.0.0.1:{port}/hook")
        await h.push("v1")
        await h.run_background()
        (record,) = await h.log()
        assert (record.status, record.attempts, record.response_status) == ("Failed", 2, None)
        assert record.reason is not None and "gave up after 2 attempts" in record.reason
        await h.triggers.update(
            h.repo, "hook", TriggerChanges(url="http://127.0.0.1:8080/x"), actor=ADMIN, resource=""
        )
        assert (await h.triggers.get(h.repo, "hook", reveal=True)).url.endswith(":8080/x")


# ---- bodies and signatures -------------------------------------------------------------


def test_a_secret_signs_timestamp_and_body(url, tmp_path, receiver):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        secret = await h.trigger("signed", url=receiver.url(), secret=True)
        assert secret
        await h.trigger("plain", url=receiver.url("/plain"))
        await h.push("v1")
        await h.run_background()
        signed = next(d for d in receiver.received if "x-dockyard-signature" in d.headers)
        timestamp = signed.headers["x-dockyard-timestamp"]
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + signed.body, hashlib.sha256
        ).hexdigest()
        assert signed.headers["x-dockyard-signature"] == f"sha256={expected}"
        plain = [d for d in receiver.received if "x-dockyard-signature" not in d.headers]
        assert len(plain) == 1
        assert plain[0].headers["content-type"] == "application/json"
        assert plain[0].headers["x-dockyard-event"] == "push"


def test_cloudevents_deliveries_parse_with_the_sdk(url, tmp_path, receiver):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("ce", url=receiver.url(), cloudevents=True)
        digest = await h.push("v1")
        await h.run_background()
        (delivery,) = receiver.received
        assert delivery.headers["content-type"] == "application/cloudevents+json"
        event = from_structured_event(HTTPMessage(delivery.headers, delivery.body))
        assert event.get_id() == delivery.id == delivery.headers["ce-id"]
        assert event.get_type() == "io.dockyard.image.pushed"
        assert event.get_specversion() == "1.0"
        assert event.get_subject() == "v1"
        data = event.get_data()
        assert isinstance(data, dict)
        assert (data["tag"], data["digest"], data["namespace"]) == ("v1", digest, "ns")


# ---- on demand: redeliver, ping --------------------------------------------------------


def test_redelivery_is_a_new_record_and_a_ping_is_logged(url, tmp_path, receiver):
    @scenario(url, tmp_path)
    async def _(h: Harness) -> None:
        await h.trigger("hook", "tags", url=receiver.url(), tags=["v1"])
        await h.push("v1")
        await h.push("v2")
        await h.run_background()
        (first,) = await h.log(status="Triggered")
        again = await h.triggers.redeliver(h.repo, first.id, actor=ADMIN, resource="")
        assert again.id != first.id and again.redelivery_of == first.id
        assert again.status == "Pending"
        ping = await h.triggers.ping(h.repo, "hook", actor=ADMIN, resource="")
        assert ping.ping and ping.tag is None
        await h.run_background()
        assert [d.id for d in receiver.received] == [str(first.id), str(again.id), str(ping.id)]
        assert receiver.received[1].json() == receiver.received[0].json()
        assert receiver.received[2].headers["x-dockyard-event"] == "ping"
        log = {r.id: r for r in await h.log()}
        assert log[again.id].status == log[ping.id].status == "Triggered"
        assert log[ping.id].ping

        with pytest.raises(Exception, match="does not exist"):
            await h.triggers.redeliver(h.repo, uuid.uuid4(), actor=ADMIN, resource="")


def test_the_log_outlives_its_trigger_and_is_pruned_when_finished(url, tmp_path, receiver):
    receiver.statuses = [500] * 10

    @scenario(url, tmp_path, RetryPolicy(max_retries=50, base_seconds=60))
    async def _(h: Harness) -> None:
        await h.trigger("hook", url=receiver.url())
        await h.trigger("other", "tags", url=receiver.url(), tags=["nope"])
        await h.push("v1")
        for _ in range(3):  # the subscriber, then the first attempt; the retry waits a minute
            await h.dispatcher.dispatch()
            for job in await h.queue.lease(list(h.handlers), limit=10):
                await h.handlers[job.kind](JobRun(job.id, job.kind, job.payload, job.attempt))
                await h.queue.complete(job)
        await h.triggers.delete(h.repo, "other", actor=ADMIN, resource="")
        log = await h.log()
        assert {(r.trigger, r.status) for r in log} == {
            ("hook", "Pending"),
            ("other", "Untriggered"),
        }
        assert await h.triggers.prune_log(timedelta(0)) == 1  # the pending one stays
        assert [(r.trigger, r.status) for r in await h.log()] == [("hook", "Pending")]
