"""Reading Harbor scanner adapters' metadata and vulnerability reports (Pluggable Scanner
API v1.1): the report type chosen, and report items as scan findings."""

from __future__ import annotations

import pytest

from dockyard.services.scanning.external import ExternalScanError, findings_of, report_type_of

OCI = "application/vnd.oci.image.manifest.v1+json"
HARBOR_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
HARBOR_1_1 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.1"
SECURITY_1_1 = "application/vnd.security.vulnerability.report; version=1.1"


def metadata(*capabilities: tuple[list[str], list[str]]) -> dict[str, object]:
    return {
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.0"},
        "capabilities": [
            {"consumes_mime_types": consumes, "produces_mime_types": produces}
            for consumes, produces in capabilities
        ],
    }


def test_the_newest_report_type_of_a_capability_that_consumes_images_is_asked_for() -> None:
    assert report_type_of(metadata(([OCI], [HARBOR_1_0, HARBOR_1_1]))) == HARBOR_1_1
    assert report_type_of(metadata(([OCI], [HARBOR_1_0, SECURITY_1_1]))) == SECURITY_1_1
    assert report_type_of(metadata(([OCI], [HARBOR_1_0]))) == HARBOR_1_0
    # An SBOM-only capability beside one that reports vulnerabilities of images.
    sbom = "application/vnd.security.sbom.report+json; version=1.0"
    assert report_type_of(metadata(([OCI], [sbom]), ([OCI], [HARBOR_1_0]))) == HARBOR_1_0


@pytest.mark.parametrize(
    "capabilities",
    [
        (),
        ((["application/vnd.oci.image.index.v1+json"], [HARBOR_1_1]),),
        (([OCI], ["application/vnd.scanner.adapter.vuln.report.raw"]),),
    ],
    ids=["none", "indexes-only", "raw-report-only"],
)
def test_an_adapter_that_cannot_report_on_images_is_refused(
    capabilities: tuple[tuple[list[str], list[str]], ...],
) -> None:
    with pytest.raises(ExternalScanError, match="no capability"):
        report_type_of(metadata(*capabilities))


def test_report_items_become_findings_of_the_scanner() -> None:
    report = {
        "vulnerabilities": [
            {"id": "CVE-2024-2", "package": "zlib1g", "version": "1.2", "severity": "Negligible",
             "fix_version": "", "cve3_score": "not a number"},
            {"id": "CVE-2024-1", "package": "openssl", "version": "3.0.11", "severity": "Critical",
             "fix_version": "3.0.12", "description": "bad", "preferred_cvss": {"score_v3": 9.8}},
            {"id": "GHSA-xxxx", "package": "requests", "version": "2.30.0", "severity": "odd",
             "cve3_score": "5.3"},
        ]
    }  # fmt: skip
    found = findings_of(report, "trivy")
    assert [
        (f.id, f.aliases, f.severity, f.score, f.package, f.fixed_version, f.scanner) for f in found
    ] == [
        ("CVE-2024-1", ("CVE-2024-1",), "CRITICAL", 9.8, "openssl", "3.0.12", "trivy"),
        ("CVE-2024-2", ("CVE-2024-2",), "LOW", None, "zlib1g", None, "trivy"),
        ("GHSA-xxxx", (), "UNKNOWN", 5.3, "requests", None, "trivy"),
    ]


@pytest.mark.parametrize(
    "report",
    [{}, {"vulnerabilities": "none"}, {"vulnerabilities": [{"package": "x"}]}],
    ids=["no-list", "not-a-list", "item-without-id"],
)
def test_a_malformed_report_fails_the_scan(report: dict[str, object]) -> None:
    with pytest.raises(ExternalScanError):
        findings_of(report, "trivy")
