"""The retention rules: which tags a policy keeps and which it deletes (PRODUCT.md §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockyard.errors import InvalidInputError
from dockyard.services.content import TagPointer
from dockyard.services.retention import plan_repository
from dockyard.services.retention.rules import (
    check_keep_latest,
    check_keep_tags,
    check_name,
    check_schedule,
    next_run,
    share_exceeded,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def tag(name: str, digest: str, minute: int) -> TagPointer:
    return TagPointer(name, f"sha256:{digest}", T0 + timedelta(minutes=minute))


def test_keeps_the_tags_of_the_n_latest_digests_and_deletes_the_rest():
    tags = [tag(f"v{i}", f"d{i}", i) for i in range(1, 6)]
    plan = plan_repository(tags, 2, "^$", immutable=False)
    assert plan.kept == ("v4", "v5")
    assert plan.deleted_names == ("v1", "v2", "v3")
    assert plan.immutable == ()


def test_a_digest_counts_once_and_every_tag_of_a_retained_digest_is_kept():
    # d2 carries three tags: it is one image; its newest tag update (minute 9) ranks it.
    tags = [
        tag("a", "d1", 5),
        tag("b", "d2", 1),
        tag("c", "d2", 9),
        tag("d", "d2", 2),
        tag("e", "d3", 7),
    ]
    plan = plan_repository(tags, 1, "^$", immutable=False)
    assert plan.kept == ("b", "c", "d")
    assert plan.deleted_names == ("a", "e")


def test_a_tie_in_time_goes_to_the_greater_tag_name():
    tags = [tag("v09", "d1", 3), tag("v10", "d2", 3), tag("v08", "d3", 3)]
    plan = plan_repository(tags, 1, "^$", immutable=False)
    assert plan.kept == ("v10",)
    assert plan.deleted_names == ("v08", "v09")


def test_cosign_signature_tags_never_rank_and_go_with_their_image():
    """A signature pushed last does not push an image out of the latest N; it stays
    while its image does (or when the image has no tag here) and goes with it."""
    kept_image, old_image = "a" * 64, "b" * 64
    tags = [
        tag("v1", old_image, 1),
        tag("v2", kept_image, 2),
        tag(f"sha256-{old_image}.sig", "s1", 8),
        tag(f"sha256-{kept_image}.sig", "s2", 9),
        tag(f"sha256-{'c' * 64}.sig", "s3", 9),  # a child of an index: no tag of its own
    ]
    plan = plan_repository(tags, 1, "^$", immutable=False)
    assert plan.kept == (f"sha256-{kept_image}.sig", f"sha256-{'c' * 64}.sig", "v2")
    assert plan.deleted_names == ("sha256-" + old_image + ".sig", "v1")


def test_tags_matching_the_pattern_are_kept_whatever_their_rank():
    tags = [tag("release-1", "d1", 1), tag("dev-1", "d2", 2), tag("dev-2", "d3", 3)]
    plan = plan_repository(tags, 1, r"release-\d+", immutable=False)
    assert plan.kept == ("dev-2", "release-1")
    assert plan.deleted_names == ("dev-1",)


def test_the_pattern_must_match_the_whole_tag():
    tags = [tag("release-1-rc", "d1", 1), tag("new", "d2", 2)]
    plan = plan_repository(tags, 1, r"release-\d+", immutable=False)
    assert plan.deleted_names == ("release-1-rc",)


@pytest.mark.parametrize("pattern", ["*", "", None, "  "])
def test_every_tag_pattern_deletes_nothing(pattern):
    stored = check_keep_tags(pattern)
    tags = [tag(f"v{i}", f"d{i}", i) for i in range(5)]
    plan = plan_repository(tags, 1, stored, immutable=False)
    assert stored == "*"
    assert plan.deleted == ()
    assert len(plan.kept) == 5


def test_immutable_repositories_keep_their_tags_except_latest():
    tags = [tag("v1", "d1", 1), tag("latest", "d2", 2), tag("v3", "d3", 3)]
    plan = plan_repository(tags, 1, "^$", immutable=True)
    assert plan.kept == ("v3",)
    assert plan.immutable == ("v1",)
    assert plan.deleted_names == ("latest",)


def test_untagged_manifests_are_not_counted():
    # Only tags are ranked: the untagged manifests of a repository never reach the plan,
    # so N counts tagged digests only and keep-latest 2 keeps two tagged images.
    tags = [tag("old", "d1", 1), tag("new", "d2", 2), tag("newest", "d3", 3)]
    plan = plan_repository(tags, 2, "^$", immutable=False)
    assert plan.kept == ("new", "newest")
    assert plan.total == 3


def test_a_pattern_that_runs_out_of_time_keeps_the_tag():
    slow = "a" * 60 + "!"
    tags = [tag(slow, "d1", 1), tag("new", "d2", 2), tag("aaa", "d3", 0)]
    plan = plan_repository(tags, 1, "(a|a)+$", immutable=False)
    assert plan.kept == ("aaa", slow, "new")


def test_share_of_deleted_tags():
    tags = [tag(f"v{i}", f"d{i}", i) for i in range(4)]
    half = plan_repository(tags, 2, "^$", immutable=False)
    most = plan_repository(tags, 1, "^$", immutable=False)
    assert not share_exceeded(half, 0.5)
    assert share_exceeded(most, 0.5)
    assert not share_exceeded(plan_repository([], 1, "^$", immutable=False), 0.0)


def test_field_rules():
    assert check_name("keep-10_a") == "keep-10_a"
    assert check_keep_latest(1) == 1
    assert check_schedule("03:30") == "03:30"
    assert check_schedule("") is None
    for refused in (
        lambda: check_name("no spaces"),
        lambda: check_keep_latest(0),
        lambda: check_keep_tags("("),
        lambda: check_schedule("24:00"),
        lambda: check_schedule("3:30"),
    ):
        with pytest.raises(InvalidInputError):
            refused()


def test_next_run_is_the_next_daily_time_in_utc():
    now = datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    assert next_run("03:31", now) == datetime(2026, 12, 1, 3, 31, tzinfo=UTC)
    assert next_run("03:30", now) == datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
    assert next_run("00:00", now) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
