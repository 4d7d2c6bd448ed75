"""Which pushes a replication rule takes: its level and source, its whole-tag regex, and
never a push that arrived by replication from the rule's own destination (no loop)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dockyard.errors import InvalidInputError
from dockyard.events import EventType
from dockyard.metadata.models import ReplicationRule
from dockyard.services.outbox import Event
from dockyard.services.replication.rules import check_source, matches

pytestmark = pytest.mark.unit


def rule(level: str, source: str, tags: str = ".*", to: str = "cri-b") -> ReplicationRule:
    return ReplicationRule(
        instance_id="default", name="r", destination=to, destination_kind="instance",
        level=level, source=source, tags=tags, enabled=True,
    )  # fmt: skip


def push(repository: str, tag: str, pushed_by: str = "admin", instance: str = "default") -> Event:
    payload: dict[str, object] = {"repository": repository, "tag": tag, "pushedBy": pushed_by}
    return Event(uuid.uuid4(), EventType.TAG_UPDATED, instance, payload, datetime.now(UTC))


def test_a_namespace_rule_takes_every_repository_of_its_namespace() -> None:
    r = rule("namespace", "team")
    assert matches(r, push("team/app", "v1"))
    assert matches(r, push("team/web", "v1"))
    assert not matches(r, push("teammate/app", "v1"))
    assert not matches(r, push("team/app", "v1", instance="cri-other"))


def test_a_repository_rule_takes_its_repository_only() -> None:
    r = rule("repository", "team/app")
    assert matches(r, push("team/app", "v1"))
    assert not matches(r, push("team/web", "v1"))


def test_the_tag_regex_matches_the_whole_tag() -> None:
    r = rule("namespace", "team", tags="release-.*")
    assert matches(r, push("team/app", "release-1"))
    assert not matches(r, push("team/app", "pre-release-1"))
    assert not matches(r, push("team/app", "dev"))


def test_a_push_from_the_rules_destination_is_not_sent_back() -> None:
    r = rule("namespace", "team", to="cri-b")
    assert not matches(r, push("team/app", "v1", pushed_by="replication from cri-b"))
    assert matches(r, push("team/app", "v1", pushed_by="replication from cri-c"))


def test_a_source_must_fit_its_level() -> None:
    check_source("namespace", "team")
    check_source("repository", "team/app")
    for level, source in (("repository", "team"), ("namespace", "Team"), ("tag", "team")):
        with pytest.raises(InvalidInputError):
            check_source(level, source)
