"""dockyard.oci.reference: <namespace>/<repository> names and tags."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidInputError
from dockyard.oci.reference import (
    NameInvalidError,
    RepositoryName,
    TagInvalidError,
    check_new_namespace,
    check_new_repository,
    validate_tag,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "namespace", "repository"),
    [
        ("ns/app", "ns", "app"),
        ("ab/c", "ab", "c"),  # shortest: namespace 2, repository 1
        ("n" * 30 + "/app", "n" * 30, "app"),  # longest namespace
        ("ns/" + "r" * 64, "ns", "r" * 64),  # longest repository
        ("my-team/my_app", "my-team", "my_app"),
        ("a_b-c/d-e_f", "a_b-c", "d-e_f"),
        ("0ns/9app", "0ns", "9app"),  # digits may lead
        ("n--s/a__b", "n--s", "a__b"),  # separators may repeat inside
    ],
)
def test_valid_names(name, namespace, repository):
    parsed = RepositoryName.parse(name)
    assert (parsed.namespace, parsed.repository) == (namespace, repository)
    assert str(parsed) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "exactly <namespace>/<repository>"),
        ("app", "exactly <namespace>/<repository>"),  # one component
        ("a/b/c", "exactly <namespace>/<repository>"),  # three components
        ("ns/app/", "exactly <namespace>/<repository>"),
        ("/ns/app", "exactly <namespace>/<repository>"),
        ("/app", "invalid namespace"),
        ("ns/", "invalid repository"),
        ("n/app", "invalid namespace"),  # namespace too short (2-30)
        ("n" * 31 + "/app", "invalid namespace"),  # namespace too long
        ("ns/" + "r" * 65, "invalid repository"),  # repository too long
        ("Ns/app", "invalid namespace"),  # uppercase
        ("ns/App", "invalid repository"),
        ("-ns/app", "invalid namespace"),  # leading / trailing separators
        ("ns-/app", "invalid namespace"),
        ("_ns/app", "invalid namespace"),
        ("ns_/app", "invalid namespace"),
        ("ns/-app", "invalid repository"),
        ("ns/app-", "invalid repository"),
        ("ns/_app", "invalid repository"),
        ("ns/app_", "invalid repository"),
        ("ns/-", "invalid repository"),
        ("n.s/app", "invalid namespace"),  # dots are not allowed (OCI allows them)
        ("ns/ap.p", "invalid repository"),
        ("ns/a p", "invalid repository"),
        ("ns/app%20", "invalid repository"),
        ("ns/app\n", "invalid repository"),  # $ must not match before a trailing newline
        ("ns\n/app", "invalid namespace"),
        ("ns/äpp", "invalid repository"),
    ],
)
def test_invalid_names(name, why):
    with pytest.raises(NameInvalidError) as info:
        RepositoryName.parse(name)
    assert why in info.value.message
    assert isinstance(info.value, InvalidInputError)


def test_names_are_values():
    assert RepositoryName.parse("ns/app") == RepositoryName("ns", "app")
    assert len({RepositoryName.parse("ns/app"), RepositoryName("ns", "app")}) == 1


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "v1",
        "V1.2.3",
        "_underscore-first",
        "1",
        "a" * 128,  # longest
        "1.0.0-rc.1_build-7",
        "sha256-" + "0" * 64 + ".sig",  # cosign-style tag
    ],
)
def test_valid_tags(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "a" * 129,  # too long
        ".hidden",  # may not start with '.' or '-'
        "-dash",
        "with space",
        "with/slash",
        "sha256:abc",  # a colon makes it a digest, never a tag
        "tag\n",
        "täg",
        "a+b",
    ],
)
def test_invalid_tags(tag):
    with pytest.raises(TagInvalidError):
        validate_tag(tag)


@pytest.mark.parametrize(
    "component",
    ["a", "ab", "a_b", "a__b", "a-b", "a---b", "a1-b2_c3__d4", "0", "my-team", "x" * 64],
)
def test_new_names_in_the_oci_grammar_are_accepted(component):
    assert check_new_repository(component) == component
    if 2 <= len(component) <= 30:
        assert check_new_namespace(component) == component


@pytest.mark.parametrize(
    ("component", "rule"),
    [
        ("a___b", "OCI name grammar"),  # three underscores: neither '_' nor '__'
        ("a_-b", "OCI name grammar"),  # mixed separators
        ("a-_b", "OCI name grammar"),
        ("a__-b", "OCI name grammar"),
        ("a____b", "OCI name grammar"),
        ("-ab", "starting and ending"),
        ("ab_", "starting and ending"),
        ("a.b", "starting and ending"),  # '.' is OCI but not Dockyard
        ("AB", "starting and ending"),
    ],
)
def test_new_names_outside_the_grammar_are_refused(component, rule):
    with pytest.raises(NameInvalidError, match=rule):
        check_new_repository(component)
    with pytest.raises(NameInvalidError, match=rule):
        check_new_namespace(component)


def test_existing_nonconforming_names_still_parse_but_do_not_conform():
    legacy = RepositoryName.parse("old___ns/app_-x")
    assert str(legacy) == "old___ns/app_-x"
    assert not legacy.conforms
    assert RepositoryName.parse("team/app__x").conforms
