"""Every row of the PRODUCT.md §3 operation table, in both ARN forms, through ``authorize``.

Each row names its action, the helper of ``api/actions.py`` (or ``InstanceRef``) that
builds its resource, and the resource as §3 writes it, by hand, for a Standard and an
Advanced instance. For every row and edition: the helper builds exactly that ARN; a policy
on the exact ARN and one on a wildcard ARN allow it; a Deny overrides; policies on other
namespaces, another instance or the other edition's form do not allow it; the built-in
policies, roles held together, and resource-set scoped policies behave as §3 says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from dockyard.api import actions
from dockyard.policy import Decision, PolicyDocument
from dockyard.policy.engine import BUILTIN_POLICIES
from dockyard.services.access import (
    DELETE_TAG,
    PULL,
    PUSH,
    InstanceRef,
    Principal,
    Resource,
    ScopedPolicies,
    authorize,
)

pytestmark = pytest.mark.unit

REGION, ACCOUNT = "cn-hangzhou", "1234567890123456"
STANDARD = InstanceRef("cri-std1", REGION, ACCOUNT, "Standard")
ADVANCED = InstanceRef("cri-adv1", REGION, ACCOUNT, "Advanced")
OTHER_ADVANCED = InstanceRef("cri-adv2", REGION, ACCOUNT, "Advanced")
P = f"acs:cr:{REGION}:{ACCOUNT}:"

Builder = Callable[[InstanceRef, str], str]


@dataclass(frozen=True)
class Row:
    operation: str
    action: str
    resource: Builder  # (instance, namespace) -> ARN; the repository is always "app"
    standard: str  # §3, by hand, for namespace "ns"
    advanced: str


def _ns(i: InstanceRef, ns: str) -> str:
    return actions.namespace_arn(i, ns)


def _repo(i: InstanceRef, ns: str) -> str:
    return actions.repository_arn(i, ns, "app")


def _star(i: InstanceRef, ns: str) -> str:
    return actions.everything()


NS_STD, NS_ADV = P + "repository/ns", P + "repository/cri-adv1/ns"
REPO_STD, REPO_ADV = P + "repository/ns/app", P + "repository/cri-adv1/ns/app"


def repo_row(operation: str, action: str, builder: Builder = _repo) -> Row:
    return Row(operation, action, builder, REPO_STD, REPO_ADV)


ROWS = [
    Row(
        "create namespace",
        "cr:CreateNamespace",
        actions.namespace_create_arn,
        "*",
        NS_ADV,
    ),
    Row("delete namespace", "cr:DeleteNamespace", _ns, NS_STD, NS_ADV),
    Row("update namespace", "cr:UpdateNamespace", _ns, NS_STD, NS_ADV),
    Row("get namespace", "cr:GetNamespace", _ns, NS_STD, NS_ADV),
    Row(
        "list namespaces",
        "cr:ListNamespace",
        lambda i, ns: actions.namespace_list_arn(i),
        "*",
        P + "repository/cri-adv1/*",
    ),
    Row("create repository", "cr:CreateRepository", _ns, NS_STD, NS_ADV),
    repo_row("delete repository", "cr:DeleteRepository"),
    repo_row("update repository", "cr:UpdateRepository"),
    repo_row("get repository", "cr:GetRepository"),
    Row(
        "list repositories",
        "cr:ListRepository",
        actions.repository_list_arn,
        "*",
        P + "repository/cri-adv1/ns/*",
    ),
    # Not a §3 row of its own: the instance-wide listing of api/actions.py's table.
    Row(
        "list repositories (instance)",
        "cr:ListRepository",
        lambda i, ns: actions.repository_list_arn(i, None),
        "*",
        P + "repository/cri-adv1/*",
    ),
    repo_row("list tags", "cr:ListRepositoryTag"),
    repo_row("delete tag or manifest", "cr:DeleteRepositoryTag"),
    repo_row("get manifest", "cr:GetRepositoryManifest"),
    repo_row("get layers", "cr:GetRepositoryLayers"),
    # The registry protocol names repositories through InstanceRef.repository_arn.
    repo_row("pull", "cr:PullRepository", lambda i, ns: i.repository_arn(f"{ns}/app")),
    repo_row("push", "cr:PushRepository", lambda i, ns: i.repository_arn(f"{ns}/app")),
    repo_row("update trigger", "cr:UpdateWebHook"),
    Row("get temporary login credentials", "cr:GetAuthorizationToken", _star, "*", "*"),
    Row("list instances", "cr:ListInstance", _star, "*", "*"),
    Row("get instance", "cr:GetInstance", _star, "*", "*"),
    Row("list signatures", "cr:ListSignature", _star, "*", "*"),
]

EDITIONS = [pytest.param(STANDARD, id="standard"), pytest.param(ADVANCED, id="advanced")]
CASES = [
    pytest.param(row, inst, id=f"{row.operation}-{ed.id}")
    for row in ROWS
    for inst, ed in ((STANDARD, EDITIONS[0]), (ADVANCED, EDITIONS[1]))
]


def expected(row: Row, instance: InstanceRef) -> str:
    return row.advanced if instance.edition == "Advanced" else row.standard


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def user(*docs: dict[str, Any] | tuple[str, dict[str, Any]]) -> Principal:
    parsed = []
    for i, d in enumerate(docs):
        name, body = d if isinstance(d, tuple) else (f"p{i}", d)
        parsed.append(PolicyDocument.parse(name, body))
    return Principal("alice", "uid-alice", tuple(parsed))


def decide(principal: Principal, row: Row, instance: InstanceRef, ns: str = "ns") -> Decision:
    return authorize(principal, row.action, Resource(row.resource(instance, ns)))


def wildcard(row: Row, instance: InstanceRef) -> str:
    """A wildcard ARN granting the row: any region and account (``acs:cr:*:*:``)."""
    arn = expected(row, instance)
    return arn if arn == "*" else "acs:cr:*:*:" + arn.removeprefix(P)


# -- the table ------------------------------------------------------------------------------


def test_every_row_is_covered_in_both_editions() -> None:
    assert len(ROWS) == 22
    assert len(CASES) == 2 * len(ROWS)


def test_action_constants_are_the_table_names() -> None:
    by_name = {row.action for row in ROWS}
    for constant in (
        actions.CREATE_NAMESPACE,
        actions.DELETE_NAMESPACE,
        actions.UPDATE_NAMESPACE,
        actions.GET_NAMESPACE,
        actions.LIST_NAMESPACE,
        actions.CREATE_REPOSITORY,
        actions.DELETE_REPOSITORY,
        actions.UPDATE_REPOSITORY,
        actions.GET_REPOSITORY,
        actions.LIST_REPOSITORY,
        actions.LIST_REPOSITORY_TAG,
        actions.DELETE_REPOSITORY_TAG,
        actions.GET_REPOSITORY_MANIFEST,
        actions.GET_REPOSITORY_LAYERS,
        actions.LIST_INSTANCE,
        actions.GET_INSTANCE,
        PULL,
        PUSH,
        DELETE_TAG,
    ):
        assert constant in by_name


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_arn_form(row: Row, instance: InstanceRef) -> None:
    assert row.resource(instance, "ns") == expected(row, instance)


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_allowed_by_exact_arn(row: Row, instance: InstanceRef) -> None:
    alice = user(("Exact", doc(allow(row.action, expected(row, instance)))))
    assert decide(alice, row, instance) == Decision(True, "Exact", 0)


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_allowed_by_wildcard_arn_and_wildcard_action(row: Row, instance: InstanceRef) -> None:
    service, name = row.action.split(":")
    assert decide(user(doc(allow(row.action, wildcard(row, instance)))), row, instance).allowed
    assert decide(user(doc(allow("cr:*", expected(row, instance)))), row, instance).allowed
    assert decide(user(doc(allow(f"{service}:{name[:3]}*", "*"))), row, instance).allowed
    # Actions are case-insensitive.
    upper = user(doc(allow(row.action.upper(), expected(row, instance))))
    assert decide(upper, row, instance).allowed
    assert authorize(
        user(doc(allow(row.action, expected(row, instance)))),
        row.action.lower(),
        Resource(expected(row, instance)),
    ).allowed


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_namespace_wildcard_grant(row: Row, instance: InstanceRef) -> None:
    """``.../repository/[$iid/]ns/*`` covers repositories, not the namespace nor ``*``."""
    grant = user(doc(allow("cr:*", instance.arn("repository/ns/*"))))
    inside = P + ("repository/cri-adv1/ns/" if instance is ADVANCED else "repository/ns/")
    assert decide(grant, row, instance).allowed is expected(row, instance).startswith(inside)
    both = user(
        doc(allow("cr:*", [instance.arn("repository/ns"), instance.arn("repository/ns/*")]))
    )
    is_star_request = row.resource(instance, "ns") in ("*", instance.arn("repository/*"))
    assert decide(both, row, instance).allowed is not is_star_request


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_deny_overrides(row: Row, instance: InstanceRef) -> None:
    arn = expected(row, instance)
    for first, second in (("Allow", "Deny"), ("Deny", "Allow")):
        policies = {
            "Allow": ("Everything", doc(allow("*", "*"), allow(row.action, arn))),
            "Deny": (
                "NoWay",
                doc(allow("cr:Get*", "*"), deny(row.action, wildcard(row, instance))),
            ),
        }
        alice = user(policies[first], policies[second])
        assert decide(alice, row, instance) == Decision(False, "NoWay", 1)
    # A Deny of another action or on another namespace leaves the Allow alone.
    other = user(
        doc(allow("*", "*")),
        doc(deny("cr:NotThisOne", "*"), deny(row.action, instance.arn("repository/x/*"))),
    )
    assert decide(other, row, instance) == Decision(True, "p0", 0)


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_unrelated_policies_do_not_allow(row: Row, instance: InstanceRef) -> None:
    unrelated = [
        # other namespaces (also a prefix of "ns": "n", and "ns" with a suffix)
        instance.arn("repository/other"),
        instance.arn("repository/other/*"),
        instance.arn("repository/ns2/*"),
        instance.arn("repository/ns2"),
        instance.arn("repository/n"),
        # another instance of the same account
        OTHER_ADVANCED.arn("repository/ns"),
        OTHER_ADVANCED.arn("repository/ns/*"),
        OTHER_ADVANCED.arn("repository/*"),
        # the other edition's form of the same names
        (STANDARD if instance is ADVANCED else ADVANCED).arn("repository/ns"),
        (STANDARD if instance is ADVANCED else ADVANCED).arn("repository/ns/app"),
        # other accounts and regions, and the instance ARN itself
        "acs:cr:*:999:repository/*",
        "acs:cr:eu-west-1:*:repository/*",
        instance.arn(f"instance/{instance.id}"),
        # resources are case-sensitive
        expected(row, instance).upper() if expected(row, instance) != "*" else "acs:cr:*",
    ]
    alice = user(doc(allow("*", unrelated)))
    assert decide(alice, row, instance) == Decision(False)
    # The right resource with another action does not allow either.
    wrong_action = "cr:GetRepository" if row.action != "cr:GetRepository" else "cr:GetNamespace"
    assert not decide(
        user(doc(allow(wrong_action, expected(row, instance)))), row, instance
    ).allowed
    # Nothing at all: denied.
    assert decide(user(), row, instance) == Decision(False)


# -- matching edge cases --------------------------------------------------------------------


@pytest.mark.parametrize("instance", EDITIONS)
def test_get_star_matches_get_actions_only(instance: InstanceRef) -> None:
    alice = user(doc(allow("cr:Get*", "*")))
    app = Resource(instance.repository_arn("ns/app"))
    assert authorize(alice, "cr:GetRepository", app).allowed
    assert authorize(alice, "cr:GetRepositoryManifest", app).allowed
    assert authorize(alice, "CR:GETREPOSITORY", app).allowed
    assert not authorize(alice, "cr:PushRepository", app).allowed
    assert not authorize(alice, "cr:ListRepository", app).allowed
    assert not authorize(alice, "ram:GetUser", Resource("*")).allowed


@pytest.mark.parametrize("instance", EDITIONS)
def test_namespace_star_pattern(instance: InstanceRef) -> None:
    alice = user(doc(allow("cr:*", instance.arn("repository/ns/*"))))

    def ok(path: str) -> bool:
        return authorize(alice, PULL, Resource(instance.arn(path))).allowed

    assert ok("repository/ns/app")
    assert ok("repository/ns/app/with/slashes")
    assert not ok("repository/ns2/x")
    assert not ok("repository/ns")
    assert not ok("repository/other/app")
    assert not ok("repository/NS/app")  # resources are case-sensitive
    assert not authorize(alice, PULL, Resource("*")).allowed


def test_star_spans_slashes_and_colons() -> None:
    alice = user(doc(allow("cr:PullRepository", "acs:cr:*app")))
    assert authorize(alice, PULL, Resource(STANDARD.repository_arn("ns/app"))).allowed
    assert authorize(alice, PULL, Resource(ADVANCED.repository_arn("ns/app"))).allowed
    assert not authorize(alice, PULL, Resource(ADVANCED.repository_arn("ns/app2"))).allowed


def test_question_mark_is_literal() -> None:
    alice = user(doc(allow("cr:PullRepository", ADVANCED.arn("repository/ns/ap?"))))
    assert not authorize(alice, PULL, Resource(ADVANCED.repository_arn("ns/app"))).allowed
    assert authorize(alice, PULL, Resource(ADVANCED.arn("repository/ns/ap?"))).allowed


def test_resource_case_and_action_case() -> None:
    arn = STANDARD.repository_arn("ns/app")
    alice = user(doc(allow("CR:pullREPOSITORY", arn)))
    assert authorize(alice, "cr:PullRepository", Resource(arn)).allowed
    assert not authorize(
        alice, "cr:PullRepository", Resource(arn.replace("ns/app", "ns/App"))
    ).allowed
    assert not authorize(alice, "cr:PullRepository", Resource(arn.upper())).allowed


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        ("*", True),
        ("**", True),
        ("acs:cr:*", False),
        (P + "*", False),
        ("acs:cr:*:*:*", False),
        ("*:*", False),
        (P + "repository/*", False),
    ],
)
def test_requests_on_star_match_only_patterns_matching_a_literal_star(pattern, allowed) -> None:
    alice = user(doc(allow(["cr:ListRepository", "cr:CreateNamespace"], pattern)))
    for action in ("cr:ListRepository", "cr:CreateNamespace"):
        assert authorize(alice, action, Resource("*")).allowed is allowed


# -- built-in policies ----------------------------------------------------------------------


def builtin(name: str) -> Principal:
    return user((name, BUILTIN_POLICIES[name]))


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_builtins_on_every_row(row: Row, instance: InstanceRef) -> None:
    full = builtin("AliyunContainerRegistryFullAccess")
    read = builtin("AliyunContainerRegistryReadOnlyAccess")
    admin = builtin("AdministratorAccess")
    assert decide(full, row, instance).allowed
    assert decide(admin, row, instance).allowed
    reads = row.action.startswith(("cr:Get", "cr:List", "cr:Pull"))
    assert decide(read, row, instance).allowed is reads


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("ram:CreateUser", "*"),
        ("ram:GetUser", f"acs:ram::{ACCOUNT}:user/bob"),
        ("ram:AttachPolicyToRole", f"acs:ram::{ACCOUNT}:role/r"),
        ("sts:GetSessionToken", "*"),
    ],
)
def test_cr_builtins_do_not_reach_ram(action: str, resource: str) -> None:
    assert not authorize(
        builtin("AliyunContainerRegistryFullAccess"), action, Resource(resource)
    ).allowed
    assert not authorize(
        builtin("AliyunContainerRegistryReadOnlyAccess"), action, Resource(resource)
    ).allowed
    assert authorize(builtin("AdministratorAccess"), action, Resource(resource)).allowed


@pytest.mark.parametrize("action", [actions.INSPECT_JOB, actions.RETRY_JOB])
def test_jobs_are_for_full_access_not_readers(action: str) -> None:
    """Jobs are the whole deployment's: the read-only built-in's ``cr:List*`` must not reach
    the job list (``api/actions.py``)."""
    for name, allowed in (
        ("AliyunContainerRegistryReadOnlyAccess", False),
        ("AliyunContainerRegistryFullAccess", True),
        ("AdministratorAccess", True),
    ):
        assert authorize(builtin(name), action, Resource("*")).allowed is allowed, name


def test_read_only_denies_writes() -> None:
    read = builtin("AliyunContainerRegistryReadOnlyAccess")
    app = Resource(ADVANCED.repository_arn("ns/app"))
    for action in (PUSH, DELETE_TAG, "cr:DeleteRepository", "cr:UpdateRepository"):
        assert not authorize(read, action, app).allowed
    assert not authorize(read, "cr:CreateNamespace", Resource("*")).allowed
    assert not authorize(
        read, "cr:CreateRepository", Resource(ADVANCED.arn("repository/ns"))
    ).allowed
    for action in (PULL, "cr:GetRepository", "cr:ListRepositoryTag"):
        assert authorize(read, action, app).allowed


# -- several roles (directly and through groups): the union --------------------------------


def test_roles_union() -> None:
    """A user's policies from all roles (their own and their groups') add up; a Deny in
    any of them still wins."""
    alice = user(
        ("PullA", doc(allow(PULL, ADVANCED.arn("repository/a/*")))),
        ("PushB", doc(allow([PULL, PUSH], ADVANCED.arn("repository/b/*")))),
        ("ReadAll", BUILTIN_POLICIES["AliyunContainerRegistryReadOnlyAccess"]),
    )
    a, b, c = (Resource(ADVANCED.repository_arn(f"{ns}/app")) for ns in "abc")
    assert authorize(alice, PULL, a) == Decision(True, "PullA", 0)
    assert not authorize(alice, PUSH, a).allowed
    assert authorize(alice, PUSH, b) == Decision(True, "PushB", 0)
    assert authorize(alice, PULL, c) == Decision(True, "ReadAll", 0)
    assert not authorize(alice, PUSH, c).allowed
    with_deny = Principal(
        "alice",
        "uid-alice",
        (*alice.policies, PolicyDocument.parse("NoB", doc(deny("cr:*", "*/b/*")))),
    )
    assert authorize(with_deny, PUSH, b) == Decision(False, "NoB", 0)
    assert authorize(with_deny, PULL, a).allowed


# -- resource sets: scoped policies ---------------------------------------------------------


def set_of(instance: InstanceRef, ns: str, policy: tuple[str, dict[str, Any]]) -> ScopedPolicies:
    """A resource set holding namespace ``ns``, as ``load_principal`` builds it."""
    return ScopedPolicies(
        (PolicyDocument.parse(*policy),),
        (instance.arn(f"repository/{ns}"), instance.arn(f"repository/{ns}/*")),
    )


FULL = ("Full", BUILTIN_POLICIES["AliyunContainerRegistryFullAccess"])


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_scoped_allow_inside_the_set_only(row: Row, instance: InstanceRef) -> None:
    member = Principal("carol", "uid-carol", scoped=(set_of(instance, "ns", FULL),))
    assert decide(member, row, instance) == Decision(True, "Full", 0)
    # Another namespace: denied, unless the request does not name a namespace at all (the
    # list/create requests on '*', and listing the namespaces of an Advanced instance).
    independent = row.resource(instance, "other") == row.resource(instance, "ns")
    assert decide(member, row, instance, "other").allowed is independent
    if not independent:
        assert "resource sets" in decide(member, row, instance, "other").explanation


@pytest.mark.parametrize(("row", "instance"), CASES)
def test_scoped_deny_applies_outside_the_set_too(row: Row, instance: InstanceRef) -> None:
    no = ("NoCr", doc(deny("cr:*", "*")))
    member = Principal(
        "carol",
        "uid-carol",
        (PolicyDocument.parse("Admin", BUILTIN_POLICIES["AdministratorAccess"]),),
        scoped=(set_of(instance, "ns", no),),
    )
    assert decide(member, row, instance, "other") == Decision(False, "NoCr", 0)
    assert decide(member, row, instance) == Decision(False, "NoCr", 0)
    assert authorize(member, "ram:GetUser", Resource("*")).allowed


def test_public_repository_with_scoped_and_denied_users() -> None:
    public = Resource(ADVANCED.repository_arn("other/app"), public=True)
    member = Principal("carol", "uid-carol", scoped=(set_of(ADVANCED, "ns", FULL),))
    assert authorize(member, PULL, public) == Decision(True, "public-repository", 0)
    assert not authorize(member, PUSH, public).allowed
    denied = Principal(
        "dave", "uid-dave", scoped=(set_of(ADVANCED, "ns", ("NoPull", doc(deny(PULL, "*")))),)
    )
    assert authorize(denied, PULL, public) == Decision(False, "NoPull", 0)
