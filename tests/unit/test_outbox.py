"""The event catalogue and the dispatcher's pure parts: job kinds, ordering keys, payloads."""

from __future__ import annotations

import ast
import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events import EventType
from dockyard.services.jobs import JobRun
from dockyard.services.outbox import (
    Event,
    OutboxDispatcher,
    event_job_kind,
    events_of,
    job_payload,
    ordering_key,
    subscriber_handler,
)

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"
WHEN = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)


def event(type_: EventType = EventType.TAG_UPDATED, **payload: object) -> Event:
    return Event(uuid.uuid4(), type_, "cri-1", dict(payload), WHEN)


class Recorder:
    name = "triggers"
    wants = frozenset({EventType.TAG_UPDATED})

    def __init__(self) -> None:
        self.seen: list[Event] = []

    async def concerned(self, session: AsyncSession, events: Sequence[Event]) -> Sequence[Event]:
        return events

    async def handle(self, events: Sequence[Event]) -> None:
        self.seen.extend(events)


def test_an_event_survives_its_job_payload() -> None:
    original = event(repository="ns/app", tag="v1", digest="sha256:ab", previous=None)
    assert Event.from_payload(original.to_payload()) == original
    assert original.to_payload()["type"] == "TagUpdated"


def test_a_job_payload_without_an_object_payload_is_refused() -> None:
    broken = {**event(repository="ns/app").to_payload(), "payload": "not an object"}
    with pytest.raises(ValueError, match="payload"):
        Event.from_payload(broken)


def test_events_of_one_repository_share_a_key_per_subscriber() -> None:
    first, second = event(repository="ns/app", tag="a"), event(repository="ns/app", tag="b")
    assert ordering_key("triggers", first) == ordering_key("triggers", second)
    assert ordering_key("triggers", first) == "triggers:cri-1/ns/app"
    assert ordering_key("replication", first) != ordering_key("triggers", first)
    assert ordering_key("triggers", event(repository="ns/other")) != ordering_key("triggers", first)


def test_events_without_a_repository_are_not_ordered() -> None:
    assert ordering_key("triggers", event(EventType.NAMESPACE_CREATED, namespace="ns")) is None
    assert event(EventType.BULK_SEEDED, repositories=3).repository is None


def test_subscriber_jobs_are_named_after_the_subscriber() -> None:
    assert event_job_kind("triggers") == "event:triggers"


def test_the_subscriber_handler_hands_over_the_event() -> None:
    recorder = Recorder()
    first, second = event(repository="ns/app", tag="v1"), event(repository="ns/app", tag="v2")
    run = JobRun(uuid.uuid4(), event_job_kind("triggers"), job_payload([first, second]), 1)
    asyncio.run(subscriber_handler(recorder)(run))
    assert recorder.seen == [first, second]


def test_a_job_payload_without_a_list_of_events_is_refused() -> None:
    with pytest.raises(ValueError, match="list of events"):
        events_of(event(repository="ns/app").to_payload())


def test_subscriber_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        OutboxDispatcher(
            None,  # type: ignore[arg-type]  # refused before the database is used
            [Recorder(), Recorder()],
            retention=timedelta(days=7),
        )


def _event_arguments() -> list[tuple[str, ast.expr]]:
    """(where, event-type argument) of every ``add_outbox_event`` call in the sources."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_outbox_event"
            ):
                found.append((f"{path.relative_to(SRC)}:{node.lineno}", node.args[2]))
    return found


def test_every_event_is_written_through_the_catalogue() -> None:
    calls = _event_arguments()
    assert len(calls) >= 19
    for where, argument in calls:
        assert (
            isinstance(argument, ast.Attribute)
            and isinstance(argument.value, ast.Name)
            and argument.value.id == "EventType"
        ), f"{where}: the event type is not an EventType member"
        assert argument.attr in EventType.__members__, where


def test_every_catalogued_event_is_written_somewhere() -> None:
    written = {
        argument.attr for _, argument in _event_arguments() if isinstance(argument, ast.Attribute)
    }
    assert written == set(EventType.__members__)
