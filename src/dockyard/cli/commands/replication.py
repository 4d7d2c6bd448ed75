"""``dockyard remote add|list|remove``, ``dockyard replicate`` and ``dockyard replication
task list|show|retry|cancel``: replication of an instance's tags, over the management API.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    human_size,
    list_or_page,
    print_json,
    print_list,
    print_record,
    print_table,
    progress,
    repo_path,
    split_name,
    split_reference,
)
from dockyard.cli.commands._identity import PasswordStdinOpt, new_secret
from dockyard.cli.commands._shapes import Listing, Record, Resource, add_commands, delete_one, given

remote_app = typer.Typer(help="Remote registries to replicate to (Advanced edition).")
replication_app = typer.Typer(help="Replication tasks and rules.")
task_app = typer.Typer(help="Replication tasks: one per tag replicated.")
rule_app = typer.Typer(help="Replication rules: every matching push is replicated (Advanced).")
replication_app.add_typer(task_app, name="task", no_args_is_help=True)
replication_app.add_typer(rule_app, name="rule", no_args_is_help=True)

#: How often ``--wait`` asks how the tasks are doing.
POLL_SECONDS = 0.5
FINAL = ("Completed", "Failed", "Cancelled")
TASKS = "/instances/{instance}/replication-tasks"

REMOTE = typer.Argument(metavar="NAME", help="The remote's name.")
RemoteArg = Annotated[str, REMOTE]
TaskArg = Annotated[str, typer.Argument(metavar="ID", help="The task's id (task list).")]

REMOTE_COLUMNS = [
    ("Name", "name"),
    ("URL", "url"),
    ("Remote instance", "remoteInstance"),
    ("User", "username"),
    ("CA bundle", "hasCaBundle"),
    ("Created", "createdAt"),
]
TASK_COLUMNS = [
    ("Id", "id"),
    ("Source", "source"),
    ("Destination", "target"),
    ("Status", "status"),
    ("Sent", "sent"),
    ("Created", "createdAt"),
    ("Reason", "reason"),
]
LAYER_COLUMNS = [("Digest", "digest"), ("Size", "size"), ("Status", "status"), ("Reason", "reason")]


def _remote_record(_client: ApiClient, remote: Record) -> None:
    print_record(remote, REMOTE_COLUMNS)


REMOTES = Resource(
    "remote", "remotes", "/instances/{instance}/replication-remotes", REMOTE, _remote_record
)


def add_remote(
    name: RemoteArg,
    url: Annotated[str, typer.Option("--url", help="https://host[:port] of the registry.")],
    remote_instance: Annotated[
        str | None,
        typer.Option(
            "--remote-instance",
            metavar="ID",
            help="The instance id there (recorded; the URL, one of its domains, reaches it).",
        ),
    ] = None,
    access_key_id: Annotated[
        str | None, typer.Option("--access-key-id", metavar="ID", help="An access key there.")
    ] = None,
    access_key_secret_stdin: Annotated[
        bool,
        typer.Option("--access-key-secret-stdin", help="Read the key's secret from stdin."),
    ] = False,
    username: Annotated[
        str | None, typer.Option("--username", metavar="U", help="Or a user there.")
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", metavar="F", help="PEM certificates to trust for it."),
    ] = None,
    *,
    call: Call,
) -> None:
    """Register a remote registry; its secret is stored encrypted and never shown."""
    if (access_key_id is None) == (username is None):
        raise CliError("give --access-key-id or --username (one of them)", exit_code=2)
    if access_key_id is not None:
        secret = new_secret(
            "Access key secret", access_key_secret_stdin, "--access-key-secret-stdin"
        )
    else:
        secret = new_secret("Password", password_stdin)
    body = given(
        {
            "name": name,
            "url": url,
            "remoteInstance": remote_instance,
            "username": access_key_id or username,
            "secret": secret,
            "caBundle": ca_file.read_text() if ca_file else None,
        }
    )
    REMOTES.create(call, body)


def remove_remote(name: RemoteArg, *, call: Call) -> None:
    """Remove a remote (its tasks' records stay)."""
    delete_one(REMOTES, name, call)


add_commands(
    remote_app,
    REMOTES,
    add=add_remote,
    list=Listing("List the instance's remotes.", REMOTE_COLUMNS),
    remove=remove_remote,
)


def _task_rows(items: list[Record]) -> list[Record]:
    return [
        {
            **task,
            "source": f"{task['sourceRepository']}:{task['sourceTag']}",
            "target": "{destination}:{destinationRepository}:{destinationTag}".format(**task),
            "sent": human_size(task["bytesSent"]),
            "createdAt": str(task["createdAt"])[:19].replace("T", " "),
            "reason": task.get("reason") or "",
        }
        for task in items
    ]


def _show_task(task: Record, as_json: bool) -> None:
    if as_json:
        print_json(task)
        return
    print_record(
        _task_rows([task])[0], [*TASK_COLUMNS, ("Started", "startedAt"), ("Finished", "finishedAt")]
    )
    if task["layers"]:
        rows = [{**layer, "size": human_size(layer["size"])} for layer in task["layers"]]
        print_table(rows, LAYER_COLUMNS)


def replicate(
    reference: Annotated[
        str,
        typer.Argument(metavar="NS/REPO[:TAG]", help="The tag (or, with --tags, the repository)."),
    ],
    to: Annotated[
        str,
        typer.Option("--to", metavar="INSTANCE_OR_REMOTE", help="Another instance, or a remote."),
    ],
    tags: Annotated[
        str | None,
        typer.Option("--tags", metavar="REGEX", help="Every tag matching it (whole tag)."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", metavar="NS2", help="Destination namespace.")
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", metavar="R2", help="Destination repository.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", metavar="T2", help="Destination tag.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace another image at the destination tag.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress; exit non-zero when a task fails.")
    ] = False,
    *,
    call: Call,
) -> None:
    """Replicate a tag (or every tag matching --tags) to another instance or a remote."""
    if tags is None:
        ns, repo, source_tag = split_reference(reference)
    else:
        (ns, repo), source_tag = split_name(reference), None
    body = given(
        {
            "tag": source_tag,
            "tags": tags,
            "to": to,
            "namespace": namespace,
            "destinationRepository": repository,
            "destinationTag": tag,
            "overwrite": overwrite or None,
        }
    )
    with call.api() as client:
        created = client.call(
            "POST", f"{repo_path(call.instance, ns, repo)}/replication-tasks", json=body
        )["items"]
        if wait:
            created = [_wait(client, call.instance, task) for task in created]
    if call.as_json:
        print_json(created)
    else:
        print_list(created, TASK_COLUMNS, False, rows=_task_rows)
    failed = [task for task in created if task["status"] != "Completed" and wait]
    if failed:
        raise CliError(
            f"{len(failed)} of {len(created)} tasks did not complete: {failed[0]['reason']}"
        )


def _wait(client: ApiClient, instance: str, task: Record) -> Record:
    """The task once final, with a bar of its layers done (copied or already present) and
    their bytes."""
    path = f"{TASKS.format(instance=instance)}/{task['id']}"
    source = f"{task['sourceRepository']}:{task['sourceTag']}"
    with progress(source) as update:
        while True:
            task = client.call("GET", path)
            layers = task["layers"]
            done = [layer for layer in layers if layer["status"] != "waiting"]
            size = human_size(sum(layer["size"] for layer in done))
            total = human_size(sum(layer["size"] for layer in layers))
            update(len(done), len(layers) or None, f"{source} {size} of {total}")
            if task["status"] in FINAL:
                return task
            time.sleep(POLL_SECONDS)


def _task_path(instance: str, task_id: str, action: str = "") -> str:
    return f"{TASKS.format(instance=instance)}/{task_id}{action}"


@command(task_app, "list", instance=True, paged=True)
def list_tasks(
    status: Annotated[
        str | None,
        typer.Option(
            "--status", metavar="S", help="Waiting, Running, Completed, Failed or Cancelled."
        ),
    ] = None,
    repository: Annotated[
        str | None,
        typer.Option("--repository", metavar="NS/REPO[:TAG]", help="Of this source only."),
    ] = None,
    *,
    call: Call,
) -> None:
    """List replication tasks, newest first (every page unless --page)."""
    query: dict[str, Any] = {"status": status}
    if repository is not None:
        ns, repo, *rest = [
            *repository.split(":", 1)[0].split("/", 1),
            *repository.split(":", 1)[1:],
        ]
        split_name(f"{ns}/{repo}")
        query.update(repository=f"{ns}/{repo}", tag=rest[0] if rest else None)
    with call.api() as client:
        path = TASKS.format(instance=call.instance)
        items = list_or_page(client, path, "replication tasks", call.page, call.page_size, **query)
    print_list(items, TASK_COLUMNS, call.as_json, rows=_task_rows)


@command(task_app, "show", instance=True)
def show_task(task_id: TaskArg, *, call: Call) -> None:
    """Show a task with its per-layer records."""
    with call.api() as client:
        task = client.call("GET", _task_path(call.instance, task_id))
    _show_task(task, call.as_json)


@command(task_app, "retry", instance=True)
def retry_task(task_id: TaskArg, *, call: Call) -> None:
    """Run a failed or cancelled task again (blobs already sent are not sent again)."""
    with call.api() as client:
        task = client.call("POST", _task_path(call.instance, task_id, "/retry"))
    _show_task(task, call.as_json)


@command(task_app, "cancel", instance=True)
def cancel_task(task_id: TaskArg, *, call: Call) -> None:
    """Cancel a waiting or running task."""
    with call.api() as client:
        task = client.call("POST", _task_path(call.instance, task_id, "/cancel"))
    _show_task(task, call.as_json)


RULE = typer.Argument(metavar="NAME", help="The rule's name.")
RuleArg = Annotated[str, RULE]
RULE_COLUMNS = [
    ("Name", "name"),
    ("Destination", "destination"),
    ("Level", "level"),
    ("Source", "source"),
    ("Tags", "tags"),
    ("Enabled", "enabled"),
]


def _rule_record(_client: ApiClient, rule: Record) -> None:
    print_record(rule, [*RULE_COLUMNS, ("Created", "createdAt")])


RULES = Resource("rule", "rules", "/instances/{instance}/replication-rules", RULE, _rule_record)


def create_rule(
    name: RuleArg,
    to: Annotated[
        str,
        typer.Option("--to", metavar="INSTANCE_OR_REMOTE", help="Another instance, or a remote."),
    ],
    level: Annotated[
        str, typer.Option("--level", metavar="namespace|repository", help="What --source names.")
    ],
    source: Annotated[str, typer.Option("--source", metavar="NS[/REPO]", help="Pushes to it.")],
    tags: Annotated[
        str | None,
        typer.Option("--tags", metavar="REGEX", help="Only tags matching it (whole tag)."),
    ] = None,
    *,
    call: Call,
) -> None:
    """Create a rule: every push to the source matching --tags is replicated."""
    RULES.create(
        call, given({"name": name, "to": to, "level": level, "source": source, "tags": tags})
    )


def _enable(enabled: bool) -> Any:
    def switch(name: RuleArg, *, call: Call) -> None:
        RULES.update(call, name, {"enabled": enabled})

    switch.__doc__ = f"{'Enable' if enabled else 'Disable'} a rule."
    return switch


add_commands(
    rule_app,
    RULES,
    create=create_rule,
    list=Listing("List the instance's replication rules.", RULE_COLUMNS),
    delete="Delete a rule (its tasks' records stay).",
    disable=_enable(False),
    enable=_enable(True),
)


def register(app: typer.Typer) -> None:
    """``replicate``, and the ``remote`` and ``replication`` command groups."""
    command(app, "replicate", instance=True)(replicate)
    app.add_typer(remote_app, name="remote", no_args_is_help=True)
    app.add_typer(replication_app, name="replication", no_args_is_help=True)
