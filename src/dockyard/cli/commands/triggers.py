"""``dockyard trigger create|list|get|update|delete|log|redeliver|ping``: webhook triggers
of a repository (NAMESPACE/REPOSITORY) and their delivery log."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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
    print_record,
    print_table,
    repo_path,
    split_name,
)
from dockyard.cli.commands._identity import done

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
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": url,
        "mode": mode,
        "expression": expression,
        "tags": [t.strip() for t in tags.split(",") if t.strip()] if tags is not None else None,
        "cloudevents": cloudevents,
        "secret": secret,
    }
    return {k: v for k, v in body.items() if v is not None}


def _show_trigger(trigger: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(trigger)
        return
    print_record(trigger, TRIGGER_FIELDS)
    if trigger.get("secret"):
        typer.echo(f"Secret (shown only now; deliveries are signed with it): {trigger['secret']}")


def _show_record(record: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        print_json(record)
    else:
        typer.echo(f"{what} queued as delivery {record['id']} (see `dockyard trigger log`).")


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
    if as_json:
        print_json(items)
    else:
        print_table(items, [f for f in TRIGGER_FIELDS if f[1] not in ("createdAt",)])


@app.command("get")
@handles_errors
def get(
    repository: RepoArg,
    name: NameArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one trigger."""
    with api(server) as client:
        found = client.call("GET", f"{_triggers(instance, repository)}/{name}")
    _show_trigger(found, as_json)


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


@app.command("delete")
@handles_errors
def delete(
    repository: RepoArg,
    name: NameArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a trigger (its log records stay until the retention period ends)."""
    with api(server) as client:
        client.call("DELETE", f"{_triggers(instance, repository)}/{name}")
    done(as_json, None, {"deleted": name}, f"Deleted trigger {name}.")


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
    if as_json:
        print_json(items)
        return
    rows = [
        {**r, "latency": f"{r['latencyMs']:.0f}" if r.get("latencyMs") is not None else None}
        for r in items
    ]
    print_table(rows, RECORD_COLUMNS)


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


@app.command("ping")
@handles_errors
def ping(
    repository: RepoArg,
    name: NameArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test delivery to the trigger's URL."""
    with api(server) as client:
        record = client.call("POST", f"{_triggers(instance, repository)}/{name}/ping")
    _show_record(record, as_json, f"Ping of {name}")
