"""``dockyard job list|retry``: the background job queue, over the management API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.commands._common import Call, command, list_or_page, print_json, print_list

app = typer.Typer(help="Background jobs: queued, running, and failed ones kept for inspection.")

COLUMNS = [
    ("Id", "id"),
    ("Kind", "kind"),
    ("State", "state"),
    ("Attempts", "attempts"),
    ("Updated", "updatedAt"),
    ("Last error", "lastError"),
]
#: Table cells show the start of an error; ``--json`` has all of it.
ERROR_CHARS = 60


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **job,
            "updatedAt": str(job.get("updatedAt", ""))[:19].replace("T", " "),
            "lastError": (job.get("lastError") or "")[:ERROR_CHARS],
        }
        for job in items
    ]


@command(app, "list", paged=True)
def list_jobs(
    state: Annotated[
        str | None, typer.Option("--state", help="waiting, running or failed.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="e.g. purge-uploads.")] = None,
    *,
    call: Call,
) -> None:
    """List background jobs, newest first (every page unless --page)."""
    with call.api() as client:
        items = list_or_page(
            client, "/jobs", "jobs", call.page, call.page_size, state=state, kind=kind
        )
    print_list(items, COLUMNS, call.as_json, rows=_rows)


@command(app, "retry")
def retry_job(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id (job list).")],
    *,
    call: Call,
) -> None:
    """Run a failed job again now, with a fresh set of attempts."""
    with call.api() as client:
        job = client.call("POST", f"/jobs/{job_id}/retry")
    if call.as_json:
        print_json(job)
    else:
        typer.echo(f"job {job['id']} ({job['kind']}) queued again")
