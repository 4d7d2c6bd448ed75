"""What the faces see of storage usage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figures:
    """Bytes as pushed (``logical``: every manifest with its config and layers) and as
    stored (``deduplicated``: each distinct digest once in the scope)."""

    logical: int
    deduplicated: int


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    name: str
    logical: int
    deduplicated: int
    manifests: int


@dataclass(frozen=True, slots=True)
class NamespaceUsage:
    name: str
    logical: int
    deduplicated: int
    #: None: no quota.
    quota: int | None


@dataclass(frozen=True, slots=True)
class NamespaceDetail:
    """A namespace's figures and a page of its repositories' own figures."""

    namespace: NamespaceUsage
    repositories: list[RepositoryUsage]
    repository_count: int


@dataclass(frozen=True, slots=True)
class InstanceUsage:
    instance_id: str
    logical: int
    deduplicated: int
    namespaces: list[NamespaceUsage]
    namespace_count: int


@dataclass(frozen=True, slots=True)
class SharedContent:
    """A digest held by several manifests of the namespace, counted once."""

    digest: str
    size: int
    manifests: int
    repositories: list[str]


@dataclass(frozen=True, slots=True)
class Explanation:
    """What counts in a namespace's usage and why."""

    namespace: NamespaceUsage
    #: Distinct digests (manifests, configs, layers) counted once each.
    distinct_content: int
    #: Of them, those held by more than one manifest, and their bytes (counted once).
    shared_content: int
    shared_bytes: int
    #: logical - deduplicated: what sharing saves.
    saved: int
    rules: list[str]
    largest_shared: list[SharedContent]
