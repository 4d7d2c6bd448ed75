"""Editions: what each one allows, checked through one gate (PRODUCT.md §1).

Every Advanced-only feature is refused on a Standard instance by ``require_feature``; every
edition limit is checked by ``check_limit`` against a count taken while the instance row
is locked, so concurrent creates cannot overshoot. Nothing else in the code base compares
edition names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from dockyard.errors import (
    EditionRequiredError,
    InvalidInputError,
    LimitExceededError,
    TooManyRequestsError,
)

STANDARD = "Standard"
ADVANCED = "Advanced"
EDITIONS = (STANDARD, ADVANCED)


class Feature(Enum):
    """Advanced-only features; the value is how error messages name them."""

    IMMUTABLE_REPOSITORY = "immutable repositories"
    OCI_ARTIFACTS = "OCI artifacts other than images"
    AUTOMATIC_REPLICATION = "automatic replication"
    CROSS_ACCOUNT_REPLICATION = "cross-account replication"
    IMAGE_SCANNING = "image scanning"
    TAG_RETENTION = "tag retention"


class Limit(Enum):
    """Counted limits; the value is how error messages name them."""

    NAMESPACES = "namespaces"
    REPOSITORIES = "repositories"
    REPOSITORIES_PER_NAMESPACE = "repositories in one namespace"
    PULLING_CLIENTS = "concurrently pulling clients"


@dataclass(frozen=True, slots=True)
class Edition:
    name: str
    features: frozenset[Feature]
    #: None: no limit of that kind (only the total applies).
    limits: dict[Limit, int | None]

    def limit(self, kind: Limit) -> int | None:
        return self.limits.get(kind)


_TABLE = {
    STANDARD: Edition(
        STANDARD,
        frozenset(),
        {
            Limit.NAMESPACES: 15,
            Limit.REPOSITORIES: 2_000,
            Limit.REPOSITORIES_PER_NAMESPACE: 1_000,
            Limit.PULLING_CLIENTS: 100,
        },
    ),
    ADVANCED: Edition(
        ADVANCED,
        frozenset(Feature),
        {
            Limit.NAMESPACES: 1_000,
            Limit.REPOSITORIES: 100_000,
            Limit.REPOSITORIES_PER_NAMESPACE: None,
            Limit.PULLING_CLIENTS: 500,
        },
    ),
}


class HasEdition(Protocol):
    """An instance as any layer holds it (``InstanceRef``, a model row, a view)."""

    @property
    def id(self) -> str: ...

    @property
    def edition(self) -> str: ...


def edition(name: str) -> Edition:
    try:
        return _TABLE[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown edition {name!r}; editions are {', '.join(EDITIONS)}"
        ) from None


def require_feature(instance: HasEdition, feature: Feature) -> None:
    """The one gate for Advanced-only features."""
    if feature not in edition(instance.edition).features:
        raise EditionRequiredError(
            f"{feature.value} need the {ADVANCED} edition; "
            f"instance {instance.id} is {instance.edition}",
            detail={"feature": feature.name, "edition": ADVANCED},
        )


def check_limit(instance: HasEdition, kind: Limit, current: int, adding: int = 1) -> None:
    """Refuse when ``current + adding`` would exceed the instance's limit of ``kind``.

    Callers count ``current`` while holding the instance lock (``TenancyService`` does for
    namespaces and repositories), so two concurrent creates cannot both pass.
    """
    maximum = edition(instance.edition).limit(kind)
    if maximum is not None and current + adding > maximum:
        raise LimitExceededError(
            f"limit exceeded: the {instance.edition} edition allows at most {maximum} "
            f"{kind.value} per instance; instance {instance.id} has {current}",
            detail={"limit": kind.name, "maximum": maximum, "edition": instance.edition},
        )


def pulling_client_limit(
    instance: HasEdition, overrides: Mapping[str, int] | None = None
) -> int | None:
    """How many distinct source addresses may download blobs from ``instance`` at once.

    ``overrides`` (edition name → number) replaces the edition's number; it comes from the
    test-only setting ``DOCKYARD_TEST_PULL_CLIENT_LIMITS`` so that tests need not open 100
    connections from 100 addresses.
    """
    if overrides and instance.edition in overrides:
        return overrides[instance.edition]
    return edition(instance.edition).limit(Limit.PULLING_CLIENTS)


def check_pulling_clients(
    instance: HasEdition,
    current: int,
    *,
    retry_after: int,
    overrides: Mapping[str, int] | None = None,
) -> None:
    """Refuse a new pulling client (429 ``TOOMANYREQUESTS``) when ``current`` other addresses
    are downloading already. Callers count under a cluster-wide lock (``PullGate``)."""
    maximum = pulling_client_limit(instance, overrides)
    if maximum is not None and current + 1 > maximum:
        raise TooManyRequestsError(
            f"too many pulling clients: the {instance.edition} edition allows "
            f"{maximum} {Limit.PULLING_CLIENTS.value} per instance; instance {instance.id} "
            f"has {current}. Retry after {retry_after} seconds.",
            retry_after=retry_after,
            detail={"limit": Limit.PULLING_CLIENTS.name, "maximum": maximum},
        )


def downgrade_blockers(
    target: str,
    *,
    namespaces: int,
    repositories: int,
    largest_namespace: int,
    uses: set[Feature],
) -> list[str]:
    """Why an instance holding this much cannot move to edition ``target`` (empty: it can)."""
    spec = edition(target)
    reasons = []
    held = {
        Limit.NAMESPACES: namespaces,
        Limit.REPOSITORIES: repositories,
        Limit.REPOSITORIES_PER_NAMESPACE: largest_namespace,
    }
    for kind, count in held.items():
        maximum = spec.limit(kind)
        if maximum is not None and count > maximum:
            reasons.append(f"it holds {count} {kind.value}, {target} allows {maximum}")
    for feature in sorted(uses - spec.features, key=lambda f: f.value):
        reasons.append(f"it uses {feature.value}, which {target} does not have")
    return reasons
