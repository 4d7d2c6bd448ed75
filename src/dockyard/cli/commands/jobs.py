"""``dockyard job list|retry``: the background job queue, over the management API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.commands._common import (
    JsonOpt,
    PageOpt,
    PageSizeOpt,
    ServerOpt,
    api,
    handles_errors,
    list_or_page,
    print_json,
    print_list,
)

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


@app.command("list")
@handles_errors
def list_jobs(
    state: Annotated[
        str | None, typer.Option("--state", help="waiting, running or failed.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="e.g. purge-uploads.")] = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List background jobs, newest first (every page unless --page)."""
    with api(server) as client:
        items = list_or_page(client, "/jobs", "jobs", page, page_size, state=state, kind=kind)
    print_list(items, COLUMNS, as_json, rows=_rows)


@app.command("retry")
@handles_errors
def retry_job(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id (job list).")],
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a failed job again now, with a fresh set of attempts."""
    with api(server) as client:
        job = client.call("POST", f"/jobs/{job_id}/retry")
    if as_json:
        print_json(job)
    else:
        typer.echo(f"job {job['id']} ({job['kind']}) queued again")
