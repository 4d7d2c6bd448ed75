"""Matching installed packages against OSV records, per ecosystem, on version boundaries:
each case names the installed version and whether the record must match it (with the
fixed version it reports)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import InvalidInputError
from dockyard.services.scanning.matching import (
    InstalledPackage,
    ecosystem_of,
    match_record,
    os_ecosystem,
    parse_os_release,
)
from dockyard.services.scanning.osv import parse_record, severity_of
from dockyard.services.scanning.sbom import packages_of


def record(ecosystem: str, name: str, *events: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "id": "OSV-1",
        "modified": "2026-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
                **extra,
            }
        ],
    }


def found(document: dict[str, Any], ecosystem: str, name: str, version: str) -> Any:
    package = InstalledPackage(name, version, ecosystem, name)
    findings = match_record(document["id"], document, [package])
    return [(f.version, f.fixed_version) for f in findings]


#: The expectation of a version that matches a range with no fix above it.
UNFIXED = "affected, no fix"
# (ecosystem, package, events, installed version, the fixed version reported: None when
# the record must not match)
CASES = [
    # dpkg order: epochs, tildes (backports sort before the release) and revisions.
    ("Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
     "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
    ("Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
     "3.0.11-1~deb12u2", None),
    ("Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
     "3.0.11-1", None),
    ("Debian:12", "bash", [{"introduced": "0"}, {"fixed": "1:2.0-1"}], "5.2-1", "1:2.0-1"),
    # apk order: -rN revisions.
    ("Alpine:v3.19", "busybox", [{"introduced": "0"}, {"fixed": "1.36.1-r16"}],
     "1.36.1-r15", "1.36.1-r16"),
    ("Alpine:v3.19", "busybox", [{"introduced": "0"}, {"fixed": "1.36.1-r16"}],
     "1.36.1-r16", None),
    # PEP 440: pre-releases sort before the release; introduced is inclusive.
    ("PyPI", "requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}], "2.31.0rc1", "2.31.0"),
    ("PyPI", "requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}], "2.3.0", "2.31.0"),
    ("PyPI", "requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}], "2.2.9", None),
    ("PyPI", "requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}], "2.31.0", None),
    # semver, numerically (1.10 > 1.9) and last_affected inclusive.
    ("npm", "lodash", [{"introduced": "0"}, {"last_affected": "4.17.20"}], "4.17.20", UNFIXED),
    ("npm", "lodash", [{"introduced": "0"}, {"last_affected": "4.17.20"}], "4.17.21", None),
    ("npm", "lodash", [{"introduced": "1.9.0"}, {"fixed": "1.10.0"}], "1.9.5", "1.10.0"),
    ("npm", "lodash", [{"introduced": "1.9.0"}, {"fixed": "1.10.0"}], "1.10.0", None),
    ("Go", "golang.org/x/net", [{"introduced": "0"}, {"fixed": "0.17.0"}], "v0.9.0", "0.17.0"),
    ("Go", "golang.org/x/net", [{"introduced": "0"}, {"fixed": "0.17.0"}], "v0.17.0", None),
    ("crates.io", "hyper", [{"introduced": "0.14.0"}, {"fixed": "0.14.10"}], "0.14.9", "0.14.10"),
    ("Maven", "org.apache.logging.log4j:log4j-core",
     [{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}], "2.14.1", "2.15.0"),
    ("Maven", "org.apache.logging.log4j:log4j-core",
     [{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}], "2.0-alpha1", None),
    ("RubyGems", "rack", [{"introduced": "0"}, {"fixed": "2.2.6.3"}], "2.2.6.2", "2.2.6.3"),
    ("RubyGems", "rack", [{"introduced": "0"}, {"fixed": "2.2.6.3"}], "2.2.6.3", None),
    # Two spans: the fix reported is the one closing the span the version is in.
    ("PyPI", "django", [{"introduced": "0"}, {"fixed": "3.2.20"}, {"introduced": "4.0"},
     {"fixed": "4.2.4"}], "4.1.0", "4.2.4"),
    ("PyPI", "django", [{"introduced": "0"}, {"fixed": "3.2.20"}, {"introduced": "4.0"},
     {"fixed": "4.2.4"}], "3.2.25", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ecosystem", "name", "events", "version", "fixed"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CASES],
)
def test_ranges_match_with_the_ecosystems_version_order(
    ecosystem: str, name: str, events: list[dict[str, str]], version: str, fixed: str | None
) -> None:
    document = record(ecosystem, name, *events)
    expected = [] if fixed is None else [(version, None if fixed == UNFIXED else fixed)]
    assert found(document, ecosystem, name, version) == expected


def test_explicit_versions_match_and_other_ecosystems_or_names_do_not() -> None:
    document = record("PyPI", "Jinja2", versions=["3.1.2"])
    assert found(document, "PyPI", "jinja2", "3.1.2") == [("3.1.2", None)]
    assert found(document, "PyPI", "jinja2", "3.1.3") == []
    assert found(document, "npm", "jinja2", "3.1.2") == []
    assert (
        found(record("Debian:11", "openssl", {"introduced": "0"}), "Debian:12", "openssl", "1")
        == []
    )


def test_os_packages_match_by_source_package_in_the_release_ecosystem() -> None:
    document = record("Debian:12", "openssl", {"introduced": "0"}, {"fixed": "3.0.12-1"})
    libssl = InstalledPackage("libssl3", "3.0.11-1", "Debian:12", "openssl")
    [finding] = match_record("DSA-1", document, [libssl])
    assert (finding.package, finding.version, finding.fixed_version) == (
        "libssl3",
        "3.0.11-1",
        "3.0.12-1",
    )


def test_unparseable_versions_and_git_ranges_match_nothing() -> None:
    assert found(record("PyPI", "x", {"introduced": "0"}), "PyPI", "x", "not a version!") == []
    git = {
        "id": "G",
        "modified": "x",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "x"},
                "ranges": [{"type": "GIT", "events": [{"introduced": "0"}]}],
            }
        ],
    }
    assert found(git, "PyPI", "x", "1.0") == []


def test_os_release_names_the_ecosystem_and_purl_types_map_to_ecosystems() -> None:
    debian = parse_os_release(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    )
    alpine = parse_os_release("ID=alpine\nVERSION_ID=3.19.1\n")
    assert os_ecosystem(debian) == "Debian:12"
    assert os_ecosystem(alpine) == "Alpine:v3.19"
    assert os_ecosystem({"ID": "fedora", "VERSION_ID": "40"}) is None
    assert ecosystem_of("deb", "Debian:12") == "Debian:12"
    assert ecosystem_of("apk", "Alpine:v3.19") == "Alpine:v3.19"
    assert ecosystem_of("deb", "Alpine:v3.19") is None
    assert ecosystem_of("deb", None) is None
    assert ecosystem_of("pypi", None) == "PyPI"
    assert ecosystem_of("cargo", None) == "crates.io"
    assert ecosystem_of("rpm", "Debian:12") is None


def test_severity_comes_from_the_cvss_vector_else_the_database_word() -> None:
    critical = {
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    }
    assert severity_of(critical) == ("CRITICAL", 9.8)
    v4 = {
        "severity": [
            {
                "type": "CVSS_V4",
                "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            }
        ]
    }
    assert severity_of(v4) == ("CRITICAL", 9.3)
    medium = {
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N"}]
    }
    assert severity_of(medium) == ("MEDIUM", 4.2)
    assert severity_of({"database_specific": {"severity": "MODERATE"}}) == ("MEDIUM", None)
    assert severity_of({"affected": [{"ecosystem_specific": {"severity": "low"}}]}) == ("LOW", None)
    assert severity_of({"severity": [{"type": "CVSS_V3", "score": "garbage"}]}) == ("UNKNOWN", None)


def test_a_record_keeps_its_aliases_and_bad_records_are_refused_naming_the_file() -> None:
    document = record("PyPI", "Requests", {"introduced": "0"}, aliases=None)
    document["aliases"] = ["CVE-2023-32681"]
    parsed = parse_record(document, "a.json")
    assert parsed.aliases == ("CVE-2023-32681",)
    assert parsed.packages == (("PyPI", "requests"),)
    with pytest.raises(InvalidInputError, match=r"b.json: 'id'"):
        parse_record({"modified": "x"}, "b.json")
    with pytest.raises(InvalidInputError, match=r"c.json \(X\): bad range event"):
        parse_record(
            {"id": "X", "modified": "m", "affected": [
                {"package": {"ecosystem": "npm", "name": "a"},
                 "ranges": [{"type": "SEMVER", "events": [{"broken": "1"}]}]}]},
            "c.json",
        )  # fmt: skip


def test_syft_packages_are_matched_by_source_package_in_the_os_ecosystem() -> None:
    document = {
        "distro": {"id": "debian", "versionID": "12"},
        "artifacts": [
            {
                "name": "libssl3",
                "version": "3.0.11-1+b1",
                "type": "deb",
                "purl": "pkg:deb/debian/libssl3@3.0.11-1+b1?upstream=openssl%403.0.11-1",
                "locations": [{"layerID": "sha256:aa"}],
            },
            {
                "name": "bash",
                "version": "5.2-1",
                "type": "deb",
                "purl": "pkg:deb/debian/bash@5.2-1?arch=amd64",
                "locations": [{"layerID": "sha256:aa"}],
            },
            {
                "name": "busybox",
                "version": "1.36.1-r15",
                "type": "apk",
                "purl": "pkg:apk/alpine/busybox@1.36.1-r15",
                "locations": [],
            },
            {
                "name": "requests",
                "version": "2.30.0",
                "type": "python",
                "purl": "pkg:pypi/requests@2.30.0",
            },
        ],
    }
    packages, ecosystem = packages_of(document)
    assert ecosystem == "Debian:12"
    assert [(p.name, p.layer, p.ecosystem) for p in packages] == [
        ("bash", "sha256:aa", "Debian:12"),
        ("busybox", None, None),  # an apk database in a Debian image: not matched
        ("libssl3", "sha256:aa", "Debian:12"),
        ("requests", None, "PyPI"),
    ]
    assert [p.installed() for p in packages] == [
        InstalledPackage("bash", "5.2-1", "Debian:12", "bash"),
        InstalledPackage("busybox", "1.36.1-r15", None, "busybox"),
        InstalledPackage("libssl3", "3.0.11-1", "Debian:12", "openssl"),
        InstalledPackage("requests", "2.30.0", "PyPI", "requests"),
    ]
