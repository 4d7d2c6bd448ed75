"""dockyard.services.triggers.rules: names, §7's URL rules, modes, and why a tag does not fire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dockyard.errors import InvalidInputError
from dockyard.services.triggers import RetryPolicy, check_match_rule, check_name, check_url
from dockyard.services.triggers.rules import MatchRule, mask_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["a", "deploy-prod", "A_1", "x" * 64])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "dot.ted", "slash/", "ümlaut"])
def test_bad_names_name_the_rule(name: str) -> None:
    with pytest.raises(InvalidInputError, match="1-64 letters, digits, '-' or '_'"):
        check_name(name)


@pytest.mark.parametrize(
    "url",
    [
        "http://deploy.example.com/hook",
        "http://deploy.example.com:80/hook",
        *(f"http://h.example:{port}/" for port in (21, 70, 210, 280, 443, 488, 591, 777)),
        "http://10.0.0.5:1025/x",
        "http://10.0.0.5:65535/x?token=abc",
        "https://deploy.example.com/hook",
        "https://deploy.example.com:443/hook",
        "HTTPS://Deploy.Example.com/hook",
    ],
)
def test_urls_the_rules_allow(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://h.example:8/x", "an http URL uses port 80, or one of 21, 70, 80, 210"),
        ("http://h.example:22/x", "or 1025-65535; got port 22"),
        ("http://h.example:1024/x", "got port 1024"),
        ("https://h.example:8443/x", "an https URL uses port 443 only"),
        ("https://h.example:80/x", r"\(for another port, use http\); got port 80"),
        ("ftp://h.example/x", r"only http and https URLs are accepted \(scheme: ftp:\)"),
        ("file:///etc/passwd", "only http and https"),
        ("h.example/hook", r"scheme: none"),
        ("http:///nohost", "the URL names no host"),
        ("http://h.example:99999/x", "port is not a number from 1 to 65535"),
        ("http://h.example:abc/x", "port is not a number"),
        ("http://[::1/x", "the URL cannot be parsed"),
        ("http://h.example/a b", "spaces or control characters"),
        ("http://h.example/" + "a" * 2048, "longer than 2048 characters"),
    ],
)
def test_urls_the_rules_refuse_name_the_rule(url: str, rule: str) -> None:
    with pytest.raises(InvalidInputError, match=rule):
        check_url(url)


def test_modes_take_exactly_their_setting() -> None:
    assert check_match_rule("every", None, None) == MatchRule("every")
    assert check_match_rule("expression", "release-v.*", None) == MatchRule(
        "expression", "release-v.*"
    )
    assert check_match_rule("tags", None, ["v1", "v2", "v1"]) == MatchRule(
        "tags", tags=("v1", "v2")
    )
    with pytest.raises(InvalidInputError, match="mode must be one of every, expression, tags"):
        check_match_rule("sometimes", None, None)
    with pytest.raises(InvalidInputError, match="an expression is given only with mode expr"):
        check_match_rule("every", "v.*", None)
    with pytest.raises(InvalidInputError, match="tags are given only with mode tags"):
        check_match_rule("expression", "v.*", ["v1"])
    with pytest.raises(InvalidInputError, match="mode expression needs an expression"):
        check_match_rule("expression", None, None)


@pytest.mark.parametrize("expression", ["(", "[a-", "*v", "v{2,1}"])
def test_invalid_regexes_are_refused(expression: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid regular expression"):
        check_match_rule("expression", expression, None)


def test_tags_mode_needs_one_to_ten_valid_tags() -> None:
    assert len(check_match_rule("tags", None, [f"v{i}" for i in range(10)]).tags) == 10
    with pytest.raises(InvalidInputError, match=r"1 to 10 tags \(got 11\)"):
        check_match_rule("tags", None, [f"v{i}" for i in range(11)])
    with pytest.raises(InvalidInputError, match=r"1 to 10 tags \(got 0\)"):
        check_match_rule("tags", None, [])
    for bad in (".hidden", "-dash", "a" * 129, "has space", "colon:tag"):
        with pytest.raises(InvalidInputError, match="invalid tag"):
            check_match_rule("tags", None, ["ok", bad])


def test_the_refusal_says_why_in_words() -> None:
    expression = MatchRule("expression", "release-v.*")
    assert expression.refusal("release-v1.2") is None
    assert expression.refusal("v2") == 'tag "v2" does not match "release-v.*"'
    # From the start of the tag, not anywhere in it.
    assert expression.refusal("pre-release-v1") == (
        'tag "pre-release-v1" does not match "release-v.*"'
    )
    listed = MatchRule("tags", tags=("v1", "v2"))
    assert listed.refusal("v2") is None
    assert listed.refusal("x") == 'tag "x" is not one of v1, v2'
    assert MatchRule("every").refusal("anything") is None


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://h.example/hook", "http://h.example/hook"),
        ("http://h.example/hook?token=s3cret&x=1", "http://h.example/hook?***"),
        ("https://user:pw@h.example/hook?t=1", "https://user:***@h.example/hook?***"),
        ("http://user@h.example:8080/", "http://user@h.example:8080/"),
    ],
)
def test_masking_hides_query_and_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_backoff_doubles_from_the_base_up_to_five_minutes() -> None:
    policy = RetryPolicy(max_retries=8, base_seconds=2)
    assert [policy.backoff(n).total_seconds() for n in range(1, 5)] == [2, 4, 8, 16]
    assert policy.backoff(20) == timedelta(seconds=300)
