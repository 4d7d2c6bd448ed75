"""dockyard.services.access: ARNs per edition, and the one authorize() call."""

from __future__ import annotations

import pytest

from dockyard.policy import Decision, PolicyDocument
from dockyard.policy.engine import ADMINISTRATOR_ACCESS, READ_ONLY_ACCESS
from dockyard.services.access import (
    ANONYMOUS,
    DELETE_TAG,
    LIST_REPOSITORY,
    PULL,
    PUSH,
    SCOPE_ACTIONS,
    InstanceRef,
    Principal,
    Resource,
    authorize,
)

pytestmark = pytest.mark.unit

STANDARD = InstanceRef("default", "cn-hangzhou", "1234567890123456", "Standard")
ADVANCED = InstanceRef("cri-abc123", "cn-hangzhou", "1234567890123456", "Advanced")


@pytest.mark.parametrize(
    ("instance", "path", "arn"),
    [
        (STANDARD, "repository/ns/app", "acs:cr:cn-hangzhou:1234567890123456:repository/ns/app"),
        (
            ADVANCED,
            "repository/ns/app",
            "acs:cr:cn-hangzhou:1234567890123456:repository/cri-abc123/ns/app",
        ),
        (STANDARD, "repository/ns/*", "acs:cr:cn-hangzhou:1234567890123456:repository/ns/*"),
        (
            ADVANCED,
            "repository/ns/*",
            "acs:cr:cn-hangzhou:1234567890123456:repository/cri-abc123/ns/*",
        ),
        # Only repository paths carry the instance id.
        (
            ADVANCED,
            "instance/cri-abc123",
            "acs:cr:cn-hangzhou:1234567890123456:instance/cri-abc123",
        ),
        (STANDARD, "namespace/ns", "acs:cr:cn-hangzhou:1234567890123456:namespace/ns"),
        # The resource '*' stays '*' in both editions.
        (STANDARD, "*", "*"),
        (ADVANCED, "*", "*"),
    ],
)
def test_arn(instance, path, arn):
    assert instance.arn(path) == arn


def test_repository_arn():
    assert STANDARD.repository_arn("ns/app") == STANDARD.arn("repository/ns/app")
    assert ADVANCED.repository_arn("ns/app").endswith(":repository/cri-abc123/ns/app")


def test_scope_actions():
    assert SCOPE_ACTIONS == {"pull": PULL, "push": PUSH, "delete": DELETE_TAG}
    assert (PULL, PUSH, DELETE_TAG, LIST_REPOSITORY) == (
        "cr:PullRepository",
        "cr:PushRepository",
        "cr:DeleteRepositoryTag",
        "cr:ListRepository",
    )


def user(*docs: dict, name: str = "alice") -> Principal:
    return Principal(
        name, "uid-" + name, tuple(PolicyDocument.parse(f"p{i}", d) for i, d in enumerate(docs))
    )


PUBLIC = Resource(ADVANCED.repository_arn("ns/public"), public=True)
PRIVATE = Resource(ADVANCED.repository_arn("ns/private"))


def test_anonymous_principal():
    assert ANONYMOUS.anonymous
    assert ANONYMOUS.policies == ()
    assert not user(READ_ONLY_ACCESS).anonymous


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        (PULL, PUBLIC, True),  # anonymous pull of a public repository
        (PULL, PRIVATE, False),
        (PUSH, PUBLIC, False),  # public means pull only
        (DELETE_TAG, PUBLIC, False),
        (LIST_REPOSITORY, PUBLIC, False),
        ("cr:pullrepository", PUBLIC, False),  # the public rule is for the exact action
    ],
)
def test_anonymous(action, resource, allowed):
    decision = authorize(ANONYMOUS, action, resource)
    assert decision.allowed is allowed
    if allowed:
        assert decision == Decision(True, "public-repository", 0)
    else:
        assert decision == Decision(False)


def test_user_policies_decide():
    reader = user(READ_ONLY_ACCESS)
    assert authorize(reader, PULL, PRIVATE) == Decision(True, "p0", 0)
    assert not authorize(reader, PUSH, PRIVATE).allowed
    admin = user(ADMINISTRATOR_ACCESS)
    assert authorize(admin, PUSH, PRIVATE).allowed
    assert authorize(admin, DELETE_TAG, PUBLIC).allowed


def test_user_without_policies_may_pull_public_only():
    nobody = user()
    assert authorize(nobody, PULL, PUBLIC).allowed
    assert not authorize(nobody, PULL, PRIVATE).allowed
    assert not authorize(nobody, PUSH, PUBLIC).allowed


def test_explicit_deny_beats_public_pull():
    denied = user(
        {
            "Version": "1",
            "Statement": [{"Effect": "Deny", "Action": "cr:Pull*", "Resource": "*ns/public"}],
        }
    )
    assert authorize(denied, PULL, PUBLIC) == Decision(False, "p0", 0)
    # The deny is scoped: another public repository still pulls.
    other = Resource(ADVANCED.repository_arn("ns/other"), public=True)
    assert authorize(denied, PULL, other).allowed


def test_policies_scoped_to_namespace_per_edition():
    """A Standard ARN pattern does not match an Advanced instance's resources and vice versa."""
    standard_ns = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cr:*", "Resource": STANDARD.arn("repository/ns/*")}
        ],
    }
    alice = user(standard_ns)
    assert authorize(alice, PUSH, Resource(STANDARD.repository_arn("ns/app"))).allowed
    assert not authorize(alice, PUSH, Resource(STANDARD.repository_arn("other/app"))).allowed
    assert not authorize(alice, PUSH, Resource(ADVANCED.repository_arn("ns/app"))).allowed
    advanced_ns = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cr:*", "Resource": ADVANCED.arn("repository/ns/*")}
        ],
    }
    bob = user(advanced_ns, name="bob")
    assert authorize(bob, PUSH, Resource(ADVANCED.repository_arn("ns/app"))).allowed
    assert not authorize(bob, PUSH, Resource(STANDARD.repository_arn("ns/app"))).allowed
    other_instance = InstanceRef("cri-other", ADVANCED.region, ADVANCED.account_arn_id, "Advanced")
    assert not authorize(bob, PUSH, Resource(other_instance.repository_arn("ns/app"))).allowed
