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
    ScopedPolicies,
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


# -- policies reaching the user through resource sets (ScopedPolicies) ---------------------

ALLOW_CR = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "cr:*", "Resource": "*"}],
}
DENY_DELETE = {
    "Version": "1",
    "Statement": [{"Effect": "Deny", "Action": "cr:Delete*", "Resource": "*"}],
}


def set_scope(instance: InstanceRef, *namespaces: str, repos: tuple[str, ...] = ()) -> tuple:
    """The ARN patterns ``load_principal`` gives a resource set: ns, ns/* and repositories."""
    out: list[str] = []
    for ns in namespaces:
        out += [instance.arn(f"repository/{ns}"), instance.arn(f"repository/{ns}/*")]
    out += [instance.repository_arn(r) for r in repos]
    return tuple(out)


def scoped_user(*sets: ScopedPolicies, docs: tuple[dict, ...] = ()) -> Principal:
    return Principal(
        "carol",
        "uid-carol",
        tuple(PolicyDocument.parse(f"g{i}", d) for i, d in enumerate(docs)),
        scoped=sets,
    )


def scoped(instance: InstanceRef, *docs: dict, namespaces=(), repos=()) -> ScopedPolicies:
    return ScopedPolicies(
        tuple(PolicyDocument.parse(f"s{i}", d) for i, d in enumerate(docs)),
        set_scope(instance, *namespaces, repos=repos),
    )


@pytest.mark.parametrize("instance", [STANDARD, ADVANCED], ids=["standard", "advanced"])
def test_scoped_allow_applies_only_inside_the_sets(instance):
    carol = scoped_user(scoped(instance, ALLOW_CR, namespaces=("team",)))
    inside = Resource(instance.repository_arn("team/app"))
    assert authorize(carol, PUSH, inside) == Decision(True, "s0", 0)
    assert "resource set" in (authorize(carol, PUSH, inside).note or "")
    assert authorize(carol, "cr:GetNamespace", Resource(instance.arn("repository/team"))).allowed
    outside = Resource(instance.repository_arn("other/app"))
    decision = authorize(carol, PULL, outside)
    assert decision == Decision(False)
    assert "would allow it" in decision.explanation
    # Prefixes are not enough: team2 is another namespace.
    assert not authorize(carol, PULL, Resource(instance.repository_arn("team2/app"))).allowed
    # Another instance's 'team' namespace is outside too.
    other = InstanceRef("cri-zzz", instance.region, instance.account_arn_id, instance.edition)
    if instance.edition == "Advanced":
        assert not authorize(carol, PULL, Resource(other.repository_arn("team/app"))).allowed
    # Requests on '*' (list/create in the Standard form) are in scope.
    assert authorize(carol, LIST_REPOSITORY, Resource("*")).allowed


def test_scoped_list_on_an_advanced_collection_holding_set_resources():
    carol = scoped_user(scoped(ADVANCED, ALLOW_CR, namespaces=("team",)))
    assert authorize(carol, "cr:ListNamespace", Resource(ADVANCED.arn("repository/*"))).allowed
    assert authorize(carol, LIST_REPOSITORY, Resource(ADVANCED.arn("repository/team/*"))).allowed
    assert not authorize(
        carol, LIST_REPOSITORY, Resource(ADVANCED.arn("repository/other/*"))
    ).allowed
    # A set holding one repository covers listing its namespace, not the repository's
    # neighbours.
    dave = scoped_user(scoped(ADVANCED, ALLOW_CR, repos=("team/app",)))
    assert authorize(dave, PULL, Resource(ADVANCED.repository_arn("team/app"))).allowed
    assert not authorize(dave, PULL, Resource(ADVANCED.repository_arn("team/db"))).allowed
    assert not authorize(dave, "cr:GetNamespace", Resource(ADVANCED.arn("repository/team"))).allowed
    assert authorize(dave, LIST_REPOSITORY, Resource(ADVANCED.arn("repository/team/*"))).allowed


def test_scoped_deny_applies_everywhere():
    carol = scoped_user(
        scoped(ADVANCED, DENY_DELETE, namespaces=("team",)),
        docs=(ADMINISTRATOR_ACCESS,),
    )
    far = Resource(ADVANCED.repository_arn("elsewhere/app"))
    decision = authorize(carol, DELETE_TAG, far)
    assert decision == Decision(False, "s0", 0)
    assert "resource set" in decision.explanation
    assert authorize(carol, PUSH, far).allowed  # the global Allow still works for the rest


def test_global_deny_beats_scoped_allow_and_scoped_deny_beats_global_allow():
    team = Resource(ADVANCED.repository_arn("team/app"))
    no_push = {
        "Version": "1",
        "Statement": [{"Effect": "Deny", "Action": "cr:PushRepository", "Resource": "*"}],
    }
    carol = scoped_user(scoped(ADVANCED, ALLOW_CR, namespaces=("team",)), docs=(no_push,))
    assert authorize(carol, PUSH, team) == Decision(False, "g0", 0)
    assert authorize(carol, PULL, team).allowed
    # A Deny in a second set wins over the Allow of the first, whatever the order.
    allow_set = scoped(ADVANCED, ALLOW_CR, namespaces=("team",))
    deny_set = ScopedPolicies(
        (PolicyDocument.parse("deny-set", no_push),), set_scope(ADVANCED, "x")
    )
    for order in ((allow_set, deny_set), (deny_set, allow_set)):
        assert authorize(scoped_user(*order), PUSH, team) == Decision(False, "deny-set", 0)


def test_several_sets_union():
    carol = scoped_user(
        scoped(ADVANCED, READ_ONLY_ACCESS, namespaces=("a",)),
        scoped(ADVANCED, ALLOW_CR, namespaces=("b",)),
    )
    a, b = (Resource(ADVANCED.repository_arn(f"{ns}/app")) for ns in "ab")
    assert authorize(carol, PULL, a).allowed and not authorize(carol, PUSH, a).allowed
    assert authorize(carol, PULL, b).allowed and authorize(carol, PUSH, b).allowed
    assert not authorize(carol, PULL, Resource(ADVANCED.repository_arn("c/app"))).allowed


def test_public_pull_with_scoped_policies():
    public = Resource(ADVANCED.repository_arn("other/pub"), public=True)
    carol = scoped_user(scoped(ADVANCED, ALLOW_CR, namespaces=("team",)))
    assert authorize(carol, PULL, public) == Decision(True, "public-repository", 0)
    assert not authorize(carol, PUSH, public).allowed
    no_pull = {
        "Version": "1",
        "Statement": [{"Effect": "Deny", "Action": "cr:Pull*", "Resource": "*/other/*"}],
    }
    denied = scoped_user(scoped(ADVANCED, no_pull, namespaces=("team",)))
    assert authorize(denied, PULL, public) == Decision(False, "s0", 0)


def test_scoped_policies_compare_by_value():
    a = scoped(ADVANCED, ALLOW_CR, namespaces=("team",))
    b = scoped(ADVANCED, ALLOW_CR, namespaces=("team",))
    assert a == b
    assert a.covers(ADVANCED.repository_arn("team/x"))
    assert a.covers("*")
    assert not a.covers(ADVANCED.repository_arn("teamx/x"))
