"""Repository names and tags.

Dockyard names are exactly ``<namespace>/<repository>`` (PRODUCT.md §2), which is a strict
subset of what the OCI grammar allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidInputError

NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,28}[a-z0-9]$")
REPOSITORY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


class NameInvalidError(InvalidInputError):
    """A repository name is not ``<namespace>/<repository>`` with valid parts."""


class TagInvalidError(InvalidInputError):
    """A tag does not match the OCI tag grammar."""


@dataclass(frozen=True, slots=True)
class RepositoryName:
    namespace: str
    repository: str

    @classmethod
    def parse(cls, name: str) -> RepositoryName:
        parts = name.split("/")
        if len(parts) != 2:
            raise NameInvalidError(
                f"invalid repository name {name!r}: names are exactly <namespace>/<repository>"
            )
        namespace, repository = parts
        if not NAMESPACE_RE.fullmatch(namespace):
            raise NameInvalidError(
                f"invalid namespace {namespace!r}: 2-30 of a-z, 0-9, '-', '_', "
                "starting and ending with a letter or digit"
            )
        if not REPOSITORY_RE.fullmatch(repository):
            raise NameInvalidError(
                f"invalid repository {repository!r}: 1-64 of a-z, 0-9, '-', '_', "
                "starting and ending with a letter or digit"
            )
        return cls(namespace, repository)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.repository}"


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise TagInvalidError(f"invalid tag {tag!r}")
    return tag
