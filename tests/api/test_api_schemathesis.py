"""schemathesis over every operation of the OpenAPI document, against a live server,
authenticated as the administrator: no 5xx, no response outside the documented schema.

Dictionaries steer most path parameters to seeded resources (an instance, a namespace,
repositories with tags), so operations get past 404 to their real logic; the rest of
each parameter is generated. Per-operation counts are printed from the NDJSON report.
"""

from __future__ import annotations

import collections
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import API, Pusher, sign_in
from tests.conftest import ServerFactory

# The fuzzer gets up to 1500 s (its subprocess timeout); the suite-wide 600 s would cut it on a
# loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

MAX_EXAMPLES = 50
#: Operations that end the fuzzer's own session or lock its account (a wrong old password
#: counts towards the sign-in lockout): tested by tests/api/test_api_signin.py instead.
SESSION_ENDING = ("/auth/signout", "/auth/password")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
CONFIG = """
[dictionaries.instances]
values = ["default"]
[dictionaries.namespaces]
values = ["seeded"]
[dictionaries.repositories]
values = ["app", "web"]
[dictionaries.tags]
values = ["v1", "latest", "multi"]

[parameters]
"path.instance_id" = { dictionary = "instances", probability = 0.8 }
"path.namespace" = { dictionary = "namespaces", probability = 0.8 }
"path.repository" = { dictionary = "repositories", probability = 0.8 }
"path.tag" = { dictionary = "tags", probability = 0.8 }
"path.reference" = { dictionary = "tags", probability = 0.8 }
"""


def schemathesis_bin() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is not installed (pip install -e '.[test]')"
    return found


def summarize(report: Path) -> dict[str, dict[str, collections.Counter[str]]]:
    """operation → {"cases": per-phase counts, "statuses": status code counts, "failed": checks}."""
    ops: dict[str, dict[str, collections.Counter[str]]] = collections.defaultdict(
        lambda: {
            "cases": collections.Counter(),
            "statuses": collections.Counter(),
            "failed": collections.Counter(),
        }
    )
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished or "label" not in (finished.get("recorder") or {}):
            continue
        recorder = finished["recorder"]
        for case_id, case in recorder.get("cases", {}).items():
            value = case["value"]
            # Stateful scenarios chain operations under one label: file each case under its own.
            stats = ops[f"{value['method']} {value['path']}"]
            stats["cases"][finished["phase"]] += 1
            response = (recorder.get("interactions", {}).get(case_id) or {}).get("response")
            if response:
                stats["statuses"][str(response["status_code"])] += 1
            for check in recorder.get("checks", {}).get(case_id, []):
                if check["status"] == "failure":
                    stats["failed"][check["name"]] += 1
    return ops


def test_schemathesis_over_every_operation(fresh_registry: ServerFactory, tmp_path: Path) -> None:
    server = fresh_registry(workers=2)
    pusher = Pusher(server)
    try:
        pusher.image("seeded/app", "v1")
        pusher.image("seeded/app", "latest")
        pusher.image("seeded/web", "multi")
    finally:
        pusher.close()
    token = sign_in(server, *server.admin)
    paths = httpx.get(f"{server.url}{API}/openapi.json", timeout=60).json()["paths"]
    documented = {
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method in item
        if path.removeprefix(API) not in SESSION_ENDING
    }
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report_dir = tmp_path / "report"
    argv = [
        schemathesis_bin(),
        "--config-file",
        str(config),
        "run",
        f"{server.url}{API}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--exclude-path-regex",
        "|".join(f"{path}$" for path in SESSION_ENDING),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "coverage,fuzzing,stateful",
        # One worker: hypothesis' source inspection is not thread-safe on CPython 3.11
        # (a "recursion depth mismatch" SystemError under several workers).
        "--workers",
        "1",
        "--seed",
        "20261126",
        "--continue-on-failure",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
    ]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1500)
    elapsed = time.monotonic() - started
    reports = list(report_dir.glob("*.ndjson"))
    assert reports, proc.stdout[-5000:] + proc.stderr[-3000:]
    ops = summarize(reports[0])

    probes = sum(sum(ops[k]["cases"].values()) for k in set(ops) - documented)
    print(f"\nschemathesis: {len(documented)} operations in {elapsed:.0f}s (max {MAX_EXAMPLES}/op)")
    print(f"{'operation':<100} {'coverage':>8} {'fuzzing':>8} {'stateful':>8}  statuses")
    for label in sorted(documented & set(ops)):
        cases, statuses = ops[label]["cases"], ops[label]["statuses"]
        print(
            f"{label:<100} {cases['coverage']:>8} {cases['fuzzing']:>8} {cases['stateful']:>8}  "
            + " ".join(f"{s}:{n}" for s, n in sorted(statuses.items()))
        )
    total = sum(sum(o["cases"].values()) for o in ops.values())
    print(f"total test cases: {total} (of which {probes} probe undocumented methods)")
    print(proc.stdout[-1500:])

    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    assert documented <= set(ops), sorted(documented - set(ops))
    for label, stats in ops.items():
        assert not stats["failed"], (label, stats["failed"])
        assert not [s for s in stats["statuses"] if s.startswith("5")], (label, stats["statuses"])
    # Every operation goes through both generating phases. Hypothesis stops early on
    # operations with little to vary (a body-less POST, a DELETE of one path parameter
    # after its distinct examples), so the per-operation floor is on the typical count.
    generated = {}
    for label in documented:
        cases = ops[label]["cases"]
        assert cases["coverage"] >= 1 and cases["fuzzing"] >= 1, (label, dict(cases))
        generated[label] = cases["coverage"] + cases["fuzzing"]
    few = sorted(label for label, n in generated.items() if n < MAX_EXAMPLES)
    print(f"operations under {MAX_EXAMPLES} generated cases: {few}")
    assert statistics.median(generated.values()) >= MAX_EXAMPLES, generated
    assert len(few) <= len(documented) // 5, few
