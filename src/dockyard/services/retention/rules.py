"""What a retention policy keeps: pure rules, no I/O, so the dry run and the execution
plan with the same code.

"Latest" is by push time per repository: the latest N counts distinct manifest digests
among the repository's tags, ranked by each digest's newest tag update; a tie goes to the
digest whose newest tag has the greater name (``v10`` over ``v09``). Every tag of a
retained digest is kept. Tags matching the ``keep_tags`` pattern are kept whatever their
rank; ``*`` or empty means every tag, so the default deletes nothing. Tags of immutable
repositories are never deleted, except ``latest``.

cosign's signature tags (``sha256-<hex>.sig``) are not images: they never count among the
latest N, and each stays while its image does (some tag of the image is kept, or the
image has no tag here) and goes with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import regex

from dockyard.errors import InvalidInputError
from dockyard.services.content import TagPointer

EVERY_TAG = "*"
MUTABLE_TAG = "latest"
MAX_PATTERN_LENGTH = 512
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: cosign's tag for the signatures of an image: ``sha256-<hex>.sig``.
COSIGN_SIGNATURE_TAG = re.compile(r"sha256-[0-9a-f]{64}\.sig")
#: Seconds one tag may take to match the keep-tags pattern (a user's regex can backtrack
#: for ever); a tag that runs out of time is kept, never deleted.
MATCH_SECONDS = 0.05
_SCHEDULE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    """What retention does to one repository's tags, each list in name order."""

    kept: tuple[str, ...]
    #: Tags it would delete but keeps because the repository is immutable.
    immutable: tuple[str, ...]
    deleted: tuple[TagPointer, ...]

    @property
    def deleted_names(self) -> tuple[str, ...]:
        return tuple(tag.name for tag in self.deleted)

    @property
    def total(self) -> int:
        return len(self.kept) + len(self.immutable) + len(self.deleted)


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidInputError("a policy name is 1-64 of letters, digits, '-' and '_'")
    return name


def check_keep_latest(value: int) -> int:
    if value < 1:
        raise InvalidInputError("keepLatest must be at least 1")
    return value


def check_keep_tags(pattern: str | None) -> str:
    """The pattern as stored (``*`` for every tag); a regex that does not compile is refused."""
    if pattern is None or pattern.strip() in ("", EVERY_TAG):
        return EVERY_TAG
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidInputError(f"keepTags is at most {MAX_PATTERN_LENGTH} characters")
    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise InvalidInputError(f"keepTags is not a regular expression: {exc}") from None
    return pattern


def check_schedule(value: str | None) -> str | None:
    """``HH:MM`` (UTC, 24-hour) or None for no schedule."""
    if value is None or value == "":
        return None
    if not _SCHEDULE.match(value):
        raise InvalidInputError(f"schedule must be HH:MM (UTC, 00:00-23:59), got {value!r}")
    return value


def next_run(schedule: str, now: datetime) -> datetime:
    """The first ``HH:MM`` UTC strictly after ``now``."""
    hours, minutes = (int(part) for part in schedule.split(":"))
    today = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


def share_exceeded(plan: RepositoryPlan, max_share: float) -> bool:
    """Whether a scheduled run would delete more than ``max_share`` of the repository's tags."""
    return plan.total > 0 and len(plan.deleted) / plan.total > max_share


def _retained_by_pattern(pattern: str, tag: str) -> bool:
    try:
        return regex.fullmatch(pattern, tag, timeout=MATCH_SECONDS) is not None
    except TimeoutError:
        return True


def plan_repository(
    tags: Sequence[TagPointer], keep_latest: int, keep_tags: str, *, immutable: bool
) -> RepositoryPlan:
    """Which tags of one repository retention keeps and which it deletes."""
    if keep_tags == EVERY_TAG:
        return RepositoryPlan(tuple(sorted(t.name for t in tags)), (), ())
    signatures = [t for t in tags if COSIGN_SIGNATURE_TAG.fullmatch(t.name)]
    tags = [t for t in tags if not COSIGN_SIGNATURE_TAG.fullmatch(t.name)]
    newest: dict[str, tuple[datetime, str]] = {}
    for tag in tags:
        rank = (tag.updated_at, tag.name)
        if tag.digest not in newest or rank > newest[tag.digest]:
            newest[tag.digest] = rank
    ranked = sorted(newest, key=newest.__getitem__, reverse=True)
    retained = set(ranked[:keep_latest])
    kept: list[str] = []
    held: list[str] = []
    deleted: list[TagPointer] = []
    for tag in sorted(tags, key=lambda t: t.name):
        if tag.digest in retained or _retained_by_pattern(keep_tags, tag.name):
            kept.append(tag.name)
        elif immutable and tag.name != MUTABLE_TAG:
            held.append(tag.name)
        else:
            deleted.append(tag)
    staying = {t.digest for t in tags if t.name in kept or t.name in held}
    gone = {t.digest for t in deleted} - staying
    for signature in signatures:
        subject = signature.name.removesuffix(".sig").replace("-", ":", 1)
        if subject not in gone:
            kept.append(signature.name)
        elif immutable:
            held.append(signature.name)
        else:
            deleted.append(signature)
    return RepositoryPlan(
        tuple(sorted(kept)), tuple(sorted(held)), tuple(sorted(deleted, key=lambda t: t.name))
    )
