"""services.tenancy.editions: the one gate, the limits table, and downgrade checks."""

from __future__ import annotations

import pytest

from dockyard.errors import EditionRequiredError, InvalidInputError, LimitExceededError
from dockyard.services.access import InstanceRef
from dockyard.services.tenancy.editions import (
    Feature,
    Limit,
    check_limit,
    downgrade_blockers,
    edition,
    require_feature,
)

pytestmark = pytest.mark.unit

STANDARD = InstanceRef("cri-std", "local", "1234567890123456", "Standard")
ADVANCED = InstanceRef("cri-adv", "local", "1234567890123456", "Advanced")


@pytest.mark.parametrize(
    ("instance", "kind", "maximum"),
    [
        (STANDARD, Limit.NAMESPACES, 15),
        (STANDARD, Limit.REPOSITORIES, 2000),
        (STANDARD, Limit.REPOSITORIES_PER_NAMESPACE, 1000),
        (STANDARD, Limit.PULLING_CLIENTS, 100),
        (ADVANCED, Limit.NAMESPACES, 1000),
        (ADVANCED, Limit.REPOSITORIES, 100_000),
        (ADVANCED, Limit.PULLING_CLIENTS, 500),
    ],
)
def test_limits_table(instance: InstanceRef, kind: Limit, maximum: int) -> None:
    assert edition(instance.edition).limit(kind) == maximum
    check_limit(instance, kind, maximum - 1)
    with pytest.raises(LimitExceededError) as refused:
        check_limit(instance, kind, maximum)
    assert f"at most {maximum} {kind.value}" in refused.value.message
    assert instance.edition in refused.value.message
    assert refused.value.detail == {
        "limit": kind.name,
        "maximum": maximum,
        "edition": instance.edition,
    }


def test_advanced_has_no_per_namespace_repository_limit() -> None:
    check_limit(ADVANCED, Limit.REPOSITORIES_PER_NAMESPACE, 50_000)


def test_adding_several_at_once() -> None:
    check_limit(STANDARD, Limit.NAMESPACES, 10, adding=5)
    with pytest.raises(LimitExceededError):
        check_limit(STANDARD, Limit.NAMESPACES, 10, adding=6)


@pytest.mark.parametrize("feature", list(Feature))
def test_the_one_gate(feature: Feature) -> None:
    require_feature(ADVANCED, feature)
    with pytest.raises(EditionRequiredError) as refused:
        require_feature(STANDARD, feature)
    assert "Advanced edition" in refused.value.message
    assert feature.value in refused.value.message and STANDARD.id in refused.value.message


def test_unknown_edition() -> None:
    with pytest.raises(InvalidInputError):
        edition("Premium")


def test_downgrade_blockers() -> None:
    assert (
        downgrade_blockers(
            "Standard", namespaces=15, repositories=2000, largest_namespace=1000, uses=set()
        )
        == []
    )
    reasons = downgrade_blockers(
        "Standard",
        namespaces=16,
        repositories=2001,
        largest_namespace=1001,
        uses={Feature.IMMUTABLE_REPOSITORY},
    )
    assert reasons == [
        "it holds 16 namespaces, Standard allows 15",
        "it holds 2001 repositories, Standard allows 2000",
        "it holds 1001 repositories in one namespace, Standard allows 1000",
        "it uses immutable repositories, which Standard does not have",
    ]
    assert (
        downgrade_blockers(
            "Advanced", namespaces=16, repositories=1, largest_namespace=1, uses=set(Feature)
        )
        == []
    )
