"""dockyard.policy.engine: RAM-style policy documents and their evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import InvalidInputError
from dockyard.policy import Decision, Effect, PolicyDocument, PolicyError, evaluate
from dockyard.policy.engine import (
    ADMINISTRATOR_ACCESS,
    BUILTIN_POLICIES,
    FULL_ACCESS,
    READ_ONLY_ACCESS,
)

pytestmark = pytest.mark.unit

ARN = "acs:cr:local:1234567890123456:"
APP = ARN + "repository/ns/app"


def policy(*statements: dict[str, Any], name: str = "p") -> PolicyDocument:
    return PolicyDocument.parse(name, {"Version": "1", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


# -- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_pattern", "resource", "allowed"),
    [
        # exact
        (APP, APP, True),
        (APP, APP + "x", False),
        (APP, ARN + "repository/ns/ap", False),
        # '*' runs across '/' and ':'
        (ARN + "repository/*", APP, True),
        (ARN + "repository/*", ARN + "repository/a/b/c:d", True),
        ("acs:cr:*", APP, True),
        ("acs:*/app", "acs:cr:local:1:repository/ns/app", True),
        ("acs:cr:local*ns/app", "acs:cr:local:1:repository/ns/app", True),
        ("acs:cr:*:*:repository/ns/*", APP, True),
        ("*", APP, True),
        ("*app", APP, True),
        ("*ns*", APP, True),
        # repository/ns/* matches repositories in ns, not the namespace itself
        (ARN + "repository/ns/*", ARN + "repository/ns/app", True),
        (ARN + "repository/ns/*", ARN + "repository/ns/", True),
        (ARN + "repository/ns/*", ARN + "repository/ns", False),
        (ARN + "repository/ns/*", ARN + "repository/nsx/app", False),
        (ARN + "repository/ns/*", ARN + "repository/other/app", False),
        # resources are case-sensitive
        (ARN + "repository/ns/*", ARN + "repository/NS/app", False),
        (ARN.upper() + "repository/ns/app", APP, False),
        # '?' and regex characters are literal
        (ARN + "repository/ns/ap?", APP, False),
        (ARN + "repository/ns/ap?", ARN + "repository/ns/ap?", True),
        (ARN + "repository/ns/a.p", APP, False),
        (ARN + "repository/ns/[a]pp", APP, False),
        (ARN + "repository/ns/a+", ARN + "repository/ns/aa", False),
        (ARN + "repository/(ns)/app", ARN + "repository/(ns)/app", True),
        # The request resource '*' is matched only by patterns matching the literal '*'.
        ("*", "*", True),
        ("**", "*", True),
        (ARN + "*", "*", False),
        ("acs:cr:*", "*", False),
        (APP, "*", False),
    ],
)
def test_resource_matching(resource_pattern, resource, allowed):
    decision = evaluate(
        [policy(allow("cr:PullRepository", resource_pattern))], "cr:PullRepository", resource
    )
    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("action_pattern", "action", "allowed"),
    [
        ("cr:PullRepository", "cr:PullRepository", True),
        ("cr:pullrepository", "cr:PullRepository", True),  # actions: case-insensitive
        ("CR:PULLREPOSITORY", "cr:PullRepository", True),
        ("cr:pull*", "cr:PullRepository", True),
        ("cr:Pull*", "cr:PushRepository", False),
        ("cr:*", "cr:DeleteRepositoryTag", True),
        ("cr:*", "ram:CreateUser", False),
        ("*", "ram:CreateUser", True),
        ("*:Get*", "cr:GetRepository", True),
        ("cr:Get*Tag", "cr:GetRepositoryTag", True),
        ("cr:Get*Tag", "cr:GetRepository", False),
        ("cr:Pull", "cr:PullRepository", False),
    ],
)
def test_action_matching(action_pattern, action, allowed):
    assert evaluate([policy(allow(action_pattern, "*"))], action, APP).allowed is allowed


def test_lists_of_actions_and_resources():
    p = policy(allow(["cr:Pull*", "cr:List*"], [ARN + "repository/a/*", ARN + "repository/b/*"]))
    assert evaluate([p], "cr:PullRepository", ARN + "repository/a/x").allowed
    assert evaluate([p], "cr:ListRepository", ARN + "repository/b/y").allowed
    assert not evaluate([p], "cr:PushRepository", ARN + "repository/a/x").allowed
    assert not evaluate([p], "cr:PullRepository", ARN + "repository/c/x").allowed


# -- decisions ------------------------------------------------------------------------------


def test_no_policies_or_no_match_is_denied():
    for policies in ([], [policy(allow("cr:Pull*", ARN + "repository/other/*"))]):
        decision = evaluate(policies, "cr:PullRepository", APP)
        assert decision == Decision(False)
        assert decision.policy is None and decision.statement is None
        assert decision.reason == "no statement allows this request"


def test_explicit_deny_wins_over_allow_in_any_order():
    allow_all = policy(allow("*", "*"), name="AllowAll")
    no_push = policy(deny("cr:Push*", ARN + "repository/ns/*"), name="NoPush")
    for order in ([allow_all, no_push], [no_push, allow_all]):
        push = evaluate(order, "cr:PushRepository", APP)
        assert push == Decision(False, "NoPush", 0)
        assert push.reason == "denied by NoPush statement 0"
        pull = evaluate(order, "cr:PullRepository", APP)
        assert pull == Decision(True, "AllowAll", 0)
        assert pull.reason == "allowed by AllowAll statement 0"
        # Outside the denied namespace, push is allowed.
        assert evaluate(order, "cr:PushRepository", ARN + "repository/other/app").allowed


def test_deny_within_one_policy_after_allows():
    p = policy(
        allow("cr:*", "*"), allow("cr:Push*", APP), deny("cr:PushRepository", APP), name="mixed"
    )
    assert evaluate([p], "cr:PushRepository", APP) == Decision(False, "mixed", 2)


def test_first_matching_allow_is_reported():
    p1 = policy(allow("cr:List*", "*"), name="first")
    p2 = policy(allow("cr:Get*", "*"), allow("cr:Pull*", "*"), name="second")
    assert evaluate([p1, p2], "cr:PullRepository", APP) == Decision(True, "second", 1)
    assert evaluate([p2, p1, p2], "cr:GetRepository", APP) == Decision(True, "second", 0)


def test_deny_that_does_not_match_does_not_deny():
    p = policy(allow("cr:*", "*"), deny("cr:DeleteRepositoryTag", APP))
    assert evaluate([p], "cr:DeleteRepositoryTag", ARN + "repository/ns/other").allowed
    assert evaluate([p], "cr:PullRepository", APP).allowed


# -- built-ins ------------------------------------------------------------------------------


def test_builtin_names():
    assert set(BUILTIN_POLICIES) == {
        "AdministratorAccess",
        "AliyunContainerRegistryFullAccess",
        "AliyunContainerRegistryReadOnlyAccess",
    }
    for name, doc in BUILTIN_POLICIES.items():
        assert PolicyDocument.parse(name, doc).statements  # every built-in is valid


@pytest.mark.parametrize(
    ("document", "action", "resource", "allowed"),
    [
        (ADMINISTRATOR_ACCESS, "cr:PushRepository", APP, True),
        (ADMINISTRATOR_ACCESS, "ram:CreateUser", "*", True),
        (ADMINISTRATOR_ACCESS, "anything:AtAll", ARN + "whatever", True),
        (FULL_ACCESS, "cr:PushRepository", APP, True),
        (FULL_ACCESS, "cr:DeleteRepositoryTag", APP, True),
        (FULL_ACCESS, "cr:CreateInstance", "*", True),
        (FULL_ACCESS, "ram:CreateUser", "*", False),
        (READ_ONLY_ACCESS, "cr:PullRepository", APP, True),
        (READ_ONLY_ACCESS, "cr:GetRepository", APP, True),
        (READ_ONLY_ACCESS, "cr:ListRepository", "*", True),
        (READ_ONLY_ACCESS, "cr:PushRepository", APP, False),
        (READ_ONLY_ACCESS, "cr:DeleteRepositoryTag", APP, False),
        (READ_ONLY_ACCESS, "cr:CreateRepository", APP, False),
        (READ_ONLY_ACCESS, "ram:GetUser", "*", False),
    ],
)
def test_builtin_policies(document, action, resource, allowed):
    assert (
        evaluate([PolicyDocument.parse("builtin", document)], action, resource).allowed is allowed
    )


# -- parsing --------------------------------------------------------------------------------


def test_parse_normalises_strings_to_tuples():
    p = PolicyDocument.parse("x", {"Version": "1", "Statement": [allow("cr:Pull*", APP)]})
    assert p.name == "x"
    (st,) = p.statements
    assert st.effect is Effect.ALLOW
    assert st.actions == ("cr:Pull*",)
    assert st.resources == (APP,)
    p2 = PolicyDocument.parse("y", {"Version": "1", "Statement": [deny(["cr:A", "cr:B"], ["c"])]})
    assert p2.statements[0].effect is Effect.DENY
    assert p2.statements[0].actions == ("cr:A", "cr:B")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (None, "policy must be a JSON object"),
        ([], "policy must be a JSON object"),
        ("{}", "policy must be a JSON object"),
        ({"Statement": [allow("*", "*")]}, 'Version must be "1"'),
        ({"Version": 1, "Statement": [allow("*", "*")]}, 'Version must be "1"'),
        ({"Version": "2", "Statement": [allow("*", "*")]}, 'Version must be "1"'),
        ({"Version": "1"}, "Statement must be a non-empty list"),
        ({"Version": "1", "Statement": []}, "Statement must be a non-empty list"),
        ({"Version": "1", "Statement": allow("*", "*")}, "Statement must be a non-empty list"),
        ({"Version": "1", "Statement": ["Allow"]}, "Statement[0] must be an object"),
        (
            {"Version": "1", "Statement": [allow("*", "*"), {"Action": "*", "Resource": "*"}]},
            'Statement[1].Effect must be "Allow" or "Deny"',
        ),
        (
            {"Version": "1", "Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]},
            'Statement[0].Effect must be "Allow" or "Deny"',
        ),
        (
            {"Version": "1", "Statement": [{"Effect": "Allow", "Resource": "*"}]},
            "Statement[0].Action",
        ),
        ({"Version": "1", "Statement": [allow("", "*")]}, "Statement[0].Action"),
        ({"Version": "1", "Statement": [allow([], "*")]}, "Statement[0].Action"),
        ({"Version": "1", "Statement": [allow(["cr:A", 1], "*")]}, "Statement[0].Action"),
        ({"Version": "1", "Statement": [allow(["cr:A", ""], "*")]}, "Statement[0].Action"),
        (
            {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "*"}]},
            "Statement[0].Resource",
        ),
        ({"Version": "1", "Statement": [allow("*", {"a": 1})]}, "Statement[0].Resource"),
        ({"Version": "1", "Statement": [allow("*", None)]}, "Statement[0].Resource"),
    ],
)
def test_parse_errors(document, message):
    with pytest.raises(PolicyError) as info:
        PolicyDocument.parse("bad", document)
    assert message in info.value.message
    assert isinstance(info.value, InvalidInputError)


def doc(*statements: Any, **top: Any) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements), **top}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        # Unknown keys are refused (design), naming the key and where it is.
        (doc(allow("*", "*"), Id="x"), "policy has unknown key(s) 'Id'"),
        (
            doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}),
            "Statement[0] has unknown key(s) 'Condition'",
        ),
        (
            doc(allow("*", "*"), {"Sid": "s", "Effect": "Deny", "Action": "*", "Resource": "*"}),
            "Statement[1] has unknown key(s) 'Sid'",
        ),
        (doc({"Effect": "Allow", "Actions": "*", "Resource": "*"}), "'Actions'"),
        (doc({"Effect": "Allow", "NotAction": "cr:Push*", "Resource": "*"}), "'NotAction'"),
        # Actions look like service:Name or '*'.
        (doc(allow("PullRepository", "*")), 'Statement[0].Action "PullRepository"'),
        (doc(allow("cr:", "*")), 'Statement[0].Action "cr:"'),
        (doc(allow(":Pull", "*")), 'Statement[0].Action ":Pull"'),
        (doc(allow("cr:Pull:Repository", "*")), "Statement[0].Action"),
        (doc(allow("cr*", "*")), 'Statement[0].Action "cr*"'),
        (doc(allow("cr:Pull?", "*")), 'Statement[0].Action "cr:Pull?"'),
        (doc(allow("cr:Pull Repository", "*")), "Statement[0].Action"),
        (doc(allow(" cr:Pull", "*")), "Statement[0].Action"),
        (doc(allow("*", "*"), allow(["cr:Get*", "cr:bad/x"], "*")), "Statement[1].Action[1]"),
    ],
)
def test_parse_rejects_unknown_keys_and_malformed_actions(document, message):
    with pytest.raises(PolicyError) as info:
        PolicyDocument.parse("bad", document)
    assert message in info.value.message


@pytest.mark.parametrize(
    "action",
    ["*", "**", "cr:*", "cr:Get*", "*:Get*", "cr:Get*Tag", "ram:CreateUser", "sts:*", "my-svc:A1"],
)
def test_well_formed_actions_parse(action):
    assert PolicyDocument.parse("ok", doc(allow(action, "*"))).statements[0].actions == (action,)


def test_patterns_are_compiled_at_parse_time():
    p = policy(allow(["cr:Pull*", "cr:GetRepository"], [APP, ARN + "repository/b/*"]))
    st = p.statements[0]
    # The compiled forms exist on the parsed statement (not built per request)...
    assert st._actions.exact == {"cr:getrepository"}
    assert st._actions.regex is not None
    assert st._resources.exact == {APP}
    # ...and are shared between documents holding the same patterns.
    again = policy(allow(["cr:Pull*", "cr:GetRepository"], [APP, ARN + "repository/b/*"]))
    assert again.statements[0]._actions is st._actions
    assert policy(allow("*", "*")).statements[0]._resources.anything
    # Compiled parts do not take part in equality.
    assert st == again.statements[0]


def test_decision_explains_the_deciding_patterns():
    allow_all = policy(allow(["cr:List*", "cr:Pull*"], ["*"]), name="Readers")
    no_push = policy(
        allow("cr:GetRepository", APP), deny(["cr:Get*", "cr:PUSH*"], [APP, "*"]), name="NoPush"
    )
    pull = evaluate([allow_all, no_push], "cr:PullRepository", APP)
    assert pull.patterns == ("cr:Pull*", "*")
    assert pull.explanation == (
        'allowed by Readers statement 0 (Allow: Action "cr:Pull*" and Resource "*" match)'
    )
    push = evaluate([allow_all, no_push], "cr:PushRepository", APP)
    assert push == Decision(False, "NoPush", 1)
    assert push.patterns == ("cr:PUSH*", APP)
    assert push.explanation.startswith("denied by NoPush statement 1 (Deny: Action")
    nothing = evaluate([allow_all], "cr:DeleteRepository", APP)
    assert nothing.explanation == nothing.reason == "no statement allows this request"
    # Equality ignores the explanation fields (callers compare on allowed/policy/statement).
    assert Decision(True, "Readers", 0, "a note") == pull
    assert nothing.patterns == (None, None)


def test_every_statement_is_checked_for_a_deny():
    """A Deny in a later policy overrides an Allow found earlier (order never matters)."""
    docs = [policy(allow("*", "*"), name=f"a{i}") for i in range(5)]
    docs.append(policy(allow("cr:Get*", "*"), deny("cr:PullRepository", "*app"), name="late"))
    assert evaluate(docs, "cr:PullRepository", APP) == Decision(False, "late", 1)
    assert evaluate(docs, "cr:PullRepository", APP + "2") == Decision(True, "a0", 0)
