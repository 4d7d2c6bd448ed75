"""``dockyard retention create|list|show|delete|run|runs``: tag retention policies of an
instance (Advanced edition) and the record of their runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    list_or_page,
    print_json,
    print_list,
    print_record,
    print_table,
    progress,
)
from dockyard.cli.commands._shapes import (
    Listing,
    Record,
    Resource,
    add_commands,
    changes,
    given,
)

app = typer.Typer(help="Tag retention policies: which tags to keep, and deleting the others.")

NAME = typer.Argument(metavar="NAME", help="The policy's name.")
NameArg = Annotated[str, NAME]

COLUMNS = [
    ("Name", "name"),
    ("Namespace", "namespace"),
    ("Repositories", "repositories"),
    ("Keep latest", "keepLatest"),
    ("Keep tags", "keepTags"),
    ("Schedule (UTC)", "schedule"),
    ("Next run", "nextRunAt"),
]
OUTCOME_COLUMNS = [
    ("Repository", "repository"),
    ("Kept", "kept"),
    ("Kept (immutable)", "keptImmutable"),
    ("Deleted", "deleted"),
    ("Manifests deleted", "deletedManifests"),
]
RUN_COLUMNS = [
    ("Run", "id"),
    ("Started", "startedAt"),
    ("Trigger", "trigger"),
    ("Actor", "actor"),
    ("Status", "status"),
    ("Deleted tags", "deletedTags"),
    ("Reason", "reason"),
]


def _record(_client: ApiClient, policy: Record) -> None:
    print_record(policy, [*COLUMNS, ("Created", "createdAt"), ("Updated", "updatedAt")])


POLICIES = Resource(
    "retention policy",
    "retention policies",
    "/instances/{instance}/retention-policies",
    NAME,
    _record,
)


NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", help="Every repository of this namespace.")
]
RepositoryOpt = Annotated[
    str | None,
    typer.Option(
        "--repository",
        metavar="NS/REPO[,NS2/REPO2...]",
        help="Or these repositories, comma-separated.",
    ),
]
KeepTagsOpt = Annotated[
    str | None,
    typer.Option(
        "--keep-tags",
        metavar="PATTERN",
        help="Also keep tags matching this regex (whole tag); '*' (default) keeps all.",
    ),
]
ScheduleOpt = Annotated[
    str | None,
    typer.Option("--schedule", metavar="HH:MM", help="Run daily at (UTC); '' removes it."),
]


def _repositories(repository: str | None) -> list[str] | None:
    return [r.strip() for r in repository.split(",") if r.strip()] if repository else None


def create_policy(
    name: NameArg,
    keep_latest: Annotated[
        int,
        typer.Option("--keep-latest", min=1, help="Keep the tags of the N latest pushed images."),
    ],
    namespace: NamespaceOpt = None,
    repository: RepositoryOpt = None,
    keep_tags: KeepTagsOpt = None,
    schedule: ScheduleOpt = None,
    *,
    call: Call,
) -> None:
    """Create a retention policy (saving it deletes nothing; see `retention run`)."""
    if (namespace is None) == (repository is None):
        raise CliError("give --namespace or --repository (not both)", exit_code=2)
    repositories = _repositories(repository)
    body = given(
        {
            "name": name,
            "namespace": namespace,
            "repositories": repositories,
            "keepLatest": keep_latest,
            "keepTags": keep_tags,
            "schedule": schedule,
        }
    )
    POLICIES.create(call, body)


def update_policy(
    name: NameArg,
    keep_latest: Annotated[
        int | None,
        typer.Option("--keep-latest", min=1, help="Keep the tags of the N latest pushed images."),
    ] = None,
    namespace: NamespaceOpt = None,
    repository: RepositoryOpt = None,
    keep_tags: KeepTagsOpt = None,
    schedule: ScheduleOpt = None,
    *,
    call: Call,
) -> None:
    """Change a policy's scope, keep-latest, keep-tags or schedule (deletes nothing).

    --namespace or --repository replaces the scope; --schedule '' removes the schedule."""
    if namespace is not None and repository is not None:
        raise CliError("give --namespace or --repository, not both", exit_code=2)
    body = changes(
        {
            "namespace": namespace,
            "repositories": _repositories(repository),
            "keepLatest": keep_latest,
            "keepTags": keep_tags,
            "schedule": schedule,
        },
        "at least one option",
    )
    POLICIES.update(call, name, body)


def _print_run(run: Record) -> None:
    kind = "Dry run" if run["dryRun"] else f"Run {run['id']}"
    typer.echo(f"{kind} of {run['policy']}: {run['status']}")
    if run.get("reason"):
        typer.echo(run["reason"])
    print_table(run["repositories"], OUTCOME_COLUMNS)


def _preview(plan: Record, as_json: bool) -> None:
    """What the confirmation asks about: the dry run's table, or (keeping stdout for the
    JSON answer) one line per repository on stderr."""
    if not as_json:
        _print_run(plan)
        return
    for outcome in plan["repositories"]:
        if outcome["deleted"]:
            typer.echo(f"{outcome['repository']}: {', '.join(outcome['deleted'])}", err=True)


def _deleted(run: Record) -> int:
    return sum(len(r["deleted"]) for r in run["repositories"])


def run_policy(
    name: NameArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what it would delete; delete nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    *,
    call: Call,
) -> None:
    """Execute a policy now: delete the tags it does not retain (after confirmation)."""
    with call.api() as client:
        path = f"{POLICIES.path(client, call.instance, name)}/runs"
        if dry_run or not yes:
            with progress(f"Planning {name}"):
                plan = client.call("POST", path, json={"dryRun": True})
            if dry_run:
                _show(plan, call.as_json)
                return
            _preview(plan, call.as_json)
            count = _deleted(plan)
            if count and not typer.confirm(f"Delete these {count} tags?", err=True):
                raise CliError("nothing deleted", exit_code=1)
        with progress(f"Running {name}"):
            run = client.call("POST", path, json={"dryRun": False})
    _show(run, call.as_json)


def _show(run: Record, as_json: bool) -> None:
    if as_json:
        print_json(run)
    else:
        _print_run(run)


def _run_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**run, "deletedTags": str(_deleted(run))} for run in runs]


def list_runs(name: NameArg, *, call: Call) -> None:
    """The policy's recorded runs, newest first (with --json: kept and deleted tags too)."""
    with call.api() as client:
        path = f"{POLICIES.path(client, call.instance, name)}/runs"
        items = list_or_page(client, path, "runs", call.page, call.page_size)
    print_list(items, RUN_COLUMNS, call.as_json, rows=_run_rows)


add_commands(
    app,
    POLICIES,
    create=create_policy,
    update=update_policy,
    list=Listing("List the instance's retention policies.", COLUMNS),
    show="Show a retention policy.",
    delete="Delete a retention policy and the record of its runs.",
    run=run_policy,
)
command(app, "runs", instance=True, paged=True)(list_runs)
