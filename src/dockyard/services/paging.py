"""Pages of a listing and entity tags: the shapes every management listing and update share.

A listing takes a :class:`PageRequest` and answers a :class:`Page`; an update that honours
``If-Match`` compares the caller's tag with :func:`etag` of the row's current fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from dockyard.errors import PreconditionFailedError

T = TypeVar("T")


def etag(*parts: object) -> str:
    """A stable entity tag of the fields that make a view's current state."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class Tagged:
    """A view whose entity tag hashes the fields ``tagged`` names (space-separated): the
    ones a change can move, which ``If-Match`` is compared against."""

    __slots__ = ()
    tagged: ClassVar[str]

    @property
    def etag(self) -> str:
        return etag(*(getattr(self, name) for name in self.tagged.split()))


def check_etag(current: str, if_match: str | None) -> None:
    """``If-Match``: absent, ``*`` or one of the listed entity tags matches ``current``."""
    if if_match is None:
        return
    wanted = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if "*" in wanted or current in wanted:
        return
    raise PreconditionFailedError(
        "the resource changed since it was read (If-Match does not match its ETag)"
    )


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    page_size: int = 30

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int
