"""What every benchmark entry point shares: where results go, the revision measured, and
the progress log (so ``runner`` and ``scale`` need not import each other)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git_revision() -> tuple[str, bool]:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True
    return rev, dirty


def write_result(
    kind: str,
    date: dt.datetime,
    quick: bool,
    meta: dict[str, Any],
    summary: dict[str, Any],
    rounds: list[Any],
) -> Path:
    """A side-by-side run's JSON under ``results/`` (date, revision, machine, then
    ``meta``), named ``<date>-<revision>-<kind>[-quick].json``; its path."""
    rev, dirty = git_revision()
    result = {
        "meta": {
            "date": date.strftime("%Y-%m-%d %H:%M:%SZ"),
            "mode": "quick" if quick else "full",
            "revision": rev,
            "dirty": dirty,
            "cpus": os.cpu_count(),
            "loadavg_1m_at_end": os.getloadavg()[0],
            **meta,
        },
        "summary": summary,
        "rounds": rounds,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    path = RESULTS / f"{date.strftime('%Y%m%d-%H%M%S')}-{rev[:12]}-{kind}{suffix}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
