"""The pull gate's decision, from a namespace's policy and an image's scan: which scans it
refuses, the message naming the counts and the policy, and the allowlist's expiry."""

from __future__ import annotations

from datetime import date

from dockyard.services.scanning.policy import AllowedId, ScanPolicySpec, refusal

TODAY = date(2026, 12, 11)
FINDINGS = [
    {"id": "DSA-1", "aliases": ["CVE-2026-1"], "severity": "CRITICAL"},
    {"id": "GHSA-2", "aliases": [], "severity": "HIGH"},
    {"id": "GHSA-3", "aliases": [], "severity": "MEDIUM"},
]


def test_severity_gate_counts_what_is_at_or_above_the_threshold() -> None:
    policy = ScanPolicySpec(block_severity="HIGH")
    assert refusal("team", policy, ("done", FINDINGS), TODAY) == (
        "image has 2 vulnerabilities of severity HIGH or more (1 CRITICAL, 1 HIGH); the scan "
        "policy of namespace team refuses pulls of images with HIGH or above"
    )
    assert (
        refusal("team", ScanPolicySpec(block_severity="CRITICAL"), ("done", FINDINGS[1:]), TODAY)
        is None
    )
    assert refusal("team", policy, ("done", []), TODAY) is None


def test_allowlisted_ids_and_aliases_are_ignored_until_they_expire() -> None:
    allow = (AllowedId("CVE-2026-1", TODAY), AllowedId("GHSA-2"))
    policy = ScanPolicySpec(block_severity="HIGH", allowlist=allow)
    assert refusal("team", policy, ("done", FINDINGS), TODAY) is None
    later = date(2026, 12, 12)
    assert "(1 CRITICAL)" in str(refusal("team", policy, ("done", FINDINGS), later))


def test_unscanned_images_are_refused_only_when_the_policy_says_so() -> None:
    blocking = ScanPolicySpec(block_unscanned=True)
    assert refusal("team", blocking, None, TODAY) == (
        "image not scanned (not scanned); the scan policy of namespace team refuses pulls "
        "of unscanned images"
    )
    assert "(scan failed)" in str(refusal("team", blocking, ("failed", []), TODAY))
    assert "(scan queued)" in str(refusal("team", blocking, ("queued", []), TODAY))
    assert refusal("team", ScanPolicySpec(block_severity="LOW"), None, TODAY) is None
    assert refusal("team", blocking, ("done", FINDINGS), TODAY) is None
