"""Repository names and tags.

Dockyard names are exactly ``<namespace>/<repository>`` (PRODUCT.md §2). Two checks exist on
purpose: ``RepositoryName.parse`` reads any name Dockyard ever stored (so names created before
the OCI component grammar was enforced stay pullable and deletable), while
``check_new_namespace`` and ``check_new_repository`` guard every place that creates a name
and also demand the OCI path-component grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidInputError

NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,28}[a-z0-9]$")
REPOSITORY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
#: One path component of the OCI distribution spec's name grammar: alphanumeric runs joined by
#: one ``.``, one ``_``, two ``__`` or any run of ``-``.
OCI_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")

_NAMESPACE_RULE = "2-30 of a-z, 0-9, '-', '_', starting and ending with a letter or digit"
_REPOSITORY_RULE = "1-64 of a-z, 0-9, '-', '_', starting and ending with a letter or digit"
_OCI_RULE = (
    "separators between letters and digits must be one '_', two '__' or a run of '-' "
    "(the OCI name grammar)"
)


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
            raise NameInvalidError(f"invalid namespace {namespace!r}: {_NAMESPACE_RULE}")
        if not REPOSITORY_RE.fullmatch(repository):
            raise NameInvalidError(f"invalid repository {repository!r}: {_REPOSITORY_RULE}")
        return cls(namespace, repository)

    @property
    def conforms(self) -> bool:
        """Whether a new name like this one would be accepted today (both components OCI)."""
        return all(OCI_COMPONENT_RE.fullmatch(part) for part in (self.namespace, self.repository))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.repository}"


def _check_new(name: str, what: str, pattern: re.Pattern[str], rule: str) -> str:
    if not pattern.fullmatch(name):
        raise NameInvalidError(f"invalid {what} {name!r}: {rule}")
    if not OCI_COMPONENT_RE.fullmatch(name):
        raise NameInvalidError(f"invalid {what} {name!r}: {_OCI_RULE}")
    return name


def check_new_namespace(name: str) -> str:
    """A namespace name about to be created: Dockyard's rule and the OCI grammar."""
    return _check_new(name, "namespace", NAMESPACE_RE, _NAMESPACE_RULE)


def check_new_repository(name: str) -> str:
    """A repository name (the part after the namespace) about to be created."""
    return _check_new(name, "repository", REPOSITORY_RE, _REPOSITORY_RULE)


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise TagInvalidError(f"invalid tag {tag!r}")
    return tag
