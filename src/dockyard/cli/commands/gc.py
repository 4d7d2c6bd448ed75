"""``dockyard gc run|status``: online garbage collection over the management API."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    human_size,
    list_or_page,
    print_json,
    print_list,
    print_record,
    progress,
)

app = typer.Typer(help="Garbage collection: reclaim blobs, manifests and uploads nothing needs.")

#: The phases a run goes through, in order (the progress bar counts them).
PHASES = ("uploads", "manifests", "mark", "sweep", "orphans")
#: Seconds between looks at a running run.
POLL_SECONDS = 0.5

REPORT = [
    ("Run", "id"),
    ("Status", "status"),
    ("Dry run", "dryRun"),
    ("Blobs deleted", "blobsDeleted"),
    ("Bytes reclaimed", "reclaimed"),
    ("Blobs condemned", "blobsCondemned"),
    ("Manifests deleted", "manifestsDeleted"),
    ("Uploads purged", "uploadsPurged"),
    ("Orphans deleted", "orphansDeleted"),
    ("Duration", "duration"),
    ("Error", "error"),
]
COLUMNS = [
    ("Run", "id"),
    ("Started", "started"),
    ("Trigger", "trigger"),
    ("Actor", "actor"),
    ("Dry run", "dryRun"),
    ("Status", "status"),
    ("Blobs deleted", "blobsDeleted"),
    ("Bytes reclaimed", "reclaimed"),
    ("Manifests deleted", "manifestsDeleted"),
    ("Duration", "duration"),
]


def _row(run: dict[str, Any]) -> dict[str, Any]:
    seconds = run.get("durationSeconds")
    return {
        **run,
        "started": str(run.get("startedAt", ""))[:19].replace("T", " "),
        "reclaimed": f"{human_size(run['bytesReclaimed'])} ({run['bytesReclaimed']} bytes)",
        "duration": "-" if seconds is None else f"{seconds:.1f} s",
        "dryRun": "yes" if run["dryRun"] else "no",
    }


@command(app, "run")
def run_gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what a run would reclaim; delete nothing.")
    ] = False,
    *,
    call: Call,
) -> None:
    """Run garbage collection now and wait for its report (pushes and pulls go on)."""
    with call.api() as client:
        run = client.call("POST", "/gc/runs", json={"dryRun": dry_run})
        with progress("Garbage collection", total=len(PHASES)) as update:
            while run["status"] == "running":
                phase = run["phase"]
                update(PHASES.index(phase) if phase in PHASES else 0)
                time.sleep(POLL_SECONDS)
                run = client.call("GET", f"/gc/runs/{run['id']}")
            update(len(PHASES))
    if call.as_json:
        print_json(run)
    else:
        print_record(_row(run), REPORT)
    if run["status"] != "succeeded":
        raise CliError(f"garbage collection {run['status']}: {run.get('error') or ''}".strip())


@command(app, "status", paged=True)
def gc_status(*, call: Call) -> None:
    """The last garbage collection runs, newest first (the first page unless --page)."""
    with call.api() as client:
        items = list_or_page(client, "/gc/runs", "runs", call.page or 1, call.page_size)
    print_list(items, COLUMNS, call.as_json, rows=lambda runs: [_row(r) for r in runs])
