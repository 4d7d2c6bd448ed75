"""``dockyard trigger create|list|get|update|delete|log|redeliver|ping``: webhook triggers
of a repository (NAMESPACE/REPOSITORY) and their delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import (
    InstanceOpt,
    JsonOpt,
    PageOpt,
    PageSizeOpt,
    ServerOpt,
    api,
    handles_errors,
    list_or_page,
    print_json,
    print_list,
    print_record,
    repo_path,
    split_name,
)
from dockyard.cli.commands._identity import done
from dockyard.cli.commands._shapes import Record, given

app = typer.Typer(help="Webhook triggers of a repository and their delivery log.")

RepoArg = Annotated[
    str, typer.Argument(metavar="NAMESPACE/REPOSITORY", help="The repository's full name.")
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The trigger's name.")]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="http (port 80, 21, 70, 210, 280, 443, 488, 591, 777, 1025-65535) or https."
    ),
]
ModeOpt = Annotated[
    str | None, typer.Option("--mode", help="every, expression or tags.", show_default=False)
]
ExpressionOpt = Annotated[
    str | None,
    typer.Option("--expression", help="With --mode expression: a regex matched from the start."),
]
TagsOpt = Annotated[
    str | None, typer.Option("--tags", help="With --mode tags: 1-10 tags, comma-separated.")
]

TRIGGER_FIELDS = [
    ("Name", "name"),
    ("URL", "url"),
    ("Mode", "mode"),
    ("Expression", "expression"),
    ("Tags", "tags"),
    ("CloudEvents", "cloudevents"),
    ("Secret", "hasSecret"),
    ("Created", "createdAt"),
    ("Updated", "updatedAt"),
]
RECORD_COLUMNS = [
    ("Delivery", "id"),
    ("Trigger", "trigger"),
    ("Tag", "tag"),
    ("Status", "status"),
    ("HTTP", "responseStatus"),
    ("Attempts", "attempts"),
    ("Latency ms", "latency"),
    ("Reason", "reason"),
    ("Created", "createdAt"),
]


def _triggers(instance: str, repository: str) -> str:
    return repo_path(instance, *split_name(repository)) + "/triggers"


def _fields(
    url: str | None,
    mode: str | None,
    expression: str | None,
    tags: str | None,
    cloudevents: bool | None,
    secret: bool | None,
) -> Record:
    """The request body's fields among those given (an update leaves the rest alone)."""
    return given(
        {
            "url": url,
            "mode": mode,
            "expression": expression,
            "tags": [t.strip() for t in tags.split(",") if t.strip()] if tags is not None else None,
            "cloudevents": cloudevents,
            "secret": secret,
        }
    )


def _show_trigger(trigger: Record, as_json: bool) -> None:
    if as_json:
        print_json(trigger)
        return
    print_record(trigger, TRIGGER_FIELDS)
    if trigger.get("secret"):
        typer.echo(f"Secret (shown only now; deliveries are signed with it): {trigger['secret']}")


def _show_record(record: Record, as_json: bool, what: str) -> None:
    if as_json:
        print_json(record)
    else:
        typer.echo(f"{what} queued as delivery {record['id']} (see `dockyard trigger log`).")


def _add_on_trigger(
    command: str, help: str, run: Callable[[ApiClient, str, str, bool], None]
) -> None:
    """Command ``command NAMESPACE/REPOSITORY NAME``, done by ``run(client, path, name,
    as_json)`` on the trigger's API path."""

    @app.command(command, help=help)
    @handles_errors
    def on_trigger(
        repository: RepoArg,
        name: NameArg,
        instance: InstanceOpt = "default",
        server: ServerOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        with api(server) as client:
            run(client, f"{_triggers(instance, repository)}/{name}", name, as_json)


@app.command("create")
@handles_errors
def create(
    repository: RepoArg,
    name: Annotated[str, typer.Option("--name", help="1-64 letters, digits, '-', '_'.")],
    url: Annotated[str, typer.Option("--url", help="Where deliveries are POSTed.")],
    mode: Annotated[str, typer.Option("--mode", help="every, expression or tags.")],
    expression: ExpressionOpt = None,
    tags: TagsOpt = None,
    cloudevents: Annotated[
        bool, typer.Option("--cloudevents", help="Send CloudEvents 1.0 structured events.")
    ] = False,
    secret: Annotated[
        bool, typer.Option("--secret", help="Generate a signing secret (printed once).")
    ] = False,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a trigger: a webhook fired by tag pushes to the repository."""
    body = {"name": name, **_fields(url, mode, expression, tags, cloudevents, secret)}
    with api(server) as client:
        created = client.call("POST", _triggers(instance, repository), json=body)
    _show_trigger(created, as_json)


@app.command("list")
@handles_errors
def list_triggers(
    repository: RepoArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the repository's triggers."""
    with api(server) as client:
        items = list_or_page(client, _triggers(instance, repository), "triggers", page, page_size)
    print_list(items, [f for f in TRIGGER_FIELDS if f[1] not in ("createdAt",)], as_json)


def _get(client: ApiClient, path: str, name: str, as_json: bool) -> None:
    _show_trigger(client.call("GET", path), as_json)


_add_on_trigger("get", "Show one trigger.", _get)


@app.command("update")
@handles_errors
def update(
    repository: RepoArg,
    name: NameArg,
    url: UrlOpt = None,
    mode: ModeOpt = None,
    expression: ExpressionOpt = None,
    tags: TagsOpt = None,
    cloudevents: Annotated[
        bool | None,
        typer.Option(
            "--cloudevents/--no-cloudevents", help="CloudEvents or plain JSON.", show_default=False
        ),
    ] = None,
    secret: Annotated[
        bool | None,
        typer.Option(
            "--secret/--no-secret",
            help="Generate a new signing secret (printed once), or remove it.",
            show_default=False,
        ),
    ] = None,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a trigger; options left out stay as they are."""
    body = _fields(url, mode, expression, tags, cloudevents, secret)
    with api(server) as client:
        changed = client.call("PATCH", f"{_triggers(instance, repository)}/{name}", json=body)
    _show_trigger(changed, as_json)


def _delete(client: ApiClient, path: str, name: str, as_json: bool) -> None:
    client.call("DELETE", path)
    done(as_json, None, {"deleted": name}, f"Deleted trigger {name}.")


_add_on_trigger(
    "delete", "Delete a trigger (its log records stay until the retention period ends).", _delete
)


@app.command("log")
@handles_errors
def log(
    repository: RepoArg,
    trigger: Annotated[
        str | None, typer.Option("--trigger", help="Only this trigger's records.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Pending, Triggered, Failed or Untriggered."),
    ] = None,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """The trigger log, newest first: every push for every trigger, pings, redeliveries."""
    path = repo_path(instance, *split_name(repository)) + "/trigger-records"
    with api(server) as client:
        items = list_or_page(
            client, path, "trigger records", page, page_size, trigger=trigger, status=status
        )
    print_list(items, RECORD_COLUMNS, as_json, rows=_record_rows)


def _record_rows(items: list[Record]) -> list[Record]:
    """Log records with their latency in whole milliseconds, as the table shows them."""
    return [
        {**r, "latency": f"{r['latencyMs']:.0f}" if r.get("latencyMs") is not None else None}
        for r in items
    ]


@app.command("redeliver")
@handles_errors
def redeliver(
    repository: RepoArg,
    delivery_id: Annotated[
        str, typer.Argument(metavar="DELIVERY_ID", help="A delivery id from `trigger log`.")
    ],
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver a logged delivery again, as a new delivery with a new id."""
    path = repo_path(instance, *split_name(repository))
    with api(server) as client:
        record = client.call("POST", f"{path}/trigger-records/{delivery_id}/redeliver")
    _show_record(record, as_json, f"Redelivery of {delivery_id}")


def _ping(client: ApiClient, path: str, name: str, as_json: bool) -> None:
    _show_record(client.call("POST", f"{path}/ping"), as_json, f"Ping of {name}")


_add_on_trigger("ping", "Send a test delivery to the trigger's URL.", _ping)
