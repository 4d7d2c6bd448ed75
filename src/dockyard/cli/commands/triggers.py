"""``dockyard trigger create|list|get|update|delete|log|redeliver|ping``: webhook triggers
of a repository (NAMESPACE/REPOSITORY) and their delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import (
    Call,
    command,
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


def _add_on_trigger(verb: str, help: str, run: Callable[[ApiClient, str, str, bool], None]) -> None:
    """Command ``verb NAMESPACE/REPOSITORY NAME``, done by ``run(client, path, name,
    as_json)`` on the trigger's API path."""

    @command(app, verb, instance=True, help=help)
    def on_trigger(repository: RepoArg, name: NameArg, *, call: Call) -> None:
        with call.api() as client:
            run(client, f"{_triggers(call.instance, repository)}/{name}", name, call.as_json)


@command(app, "create", instance=True)
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
    *,
    call: Call,
) -> None:
    """Create a trigger: a webhook fired by tag pushes to the repository."""
    body = {"name": name, **_fields(url, mode, expression, tags, cloudevents, secret)}
    with call.api() as client:
        created = client.call("POST", _triggers(call.instance, repository), json=body)
    _show_trigger(created, call.as_json)


@command(app, "list", instance=True, paged=True)
def list_triggers(
    repository: RepoArg,
    *,
    call: Call,
) -> None:
    """List the repository's triggers."""
    with call.api() as client:
        items = list_or_page(
            client, _triggers(call.instance, repository), "triggers", call.page, call.page_size
        )
    print_list(items, [f for f in TRIGGER_FIELDS if f[1] not in ("createdAt",)], call.as_json)


def _get(client: ApiClient, path: str, name: str, as_json: bool) -> None:
    _show_trigger(client.call("GET", path), as_json)


_add_on_trigger("get", "Show one trigger.", _get)


@command(app, "update", instance=True)
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
    *,
    call: Call,
) -> None:
    """Change a trigger; options left out stay as they are."""
    body = _fields(url, mode, expression, tags, cloudevents, secret)
    with call.api() as client:
        changed = client.call("PATCH", f"{_triggers(call.instance, repository)}/{name}", json=body)
    _show_trigger(changed, call.as_json)


def _delete(client: ApiClient, path: str, name: str, as_json: bool) -> None:
    client.call("DELETE", path)
    done(as_json, None, {"deleted": name}, f"Deleted trigger {name}.")


_add_on_trigger(
    "delete", "Delete a trigger (its log records stay until the retention period ends).", _delete
)


@command(app, "log", instance=True, paged=True)
def log(
    repository: RepoArg,
    trigger: Annotated[
        str | None, typer.Option("--trigger", help="Only this trigger's records.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Pending, Triggered, Failed or Untriggered."),
    ] = None,
    *,
    call: Call,
) -> None:
    """The trigger log, newest first: every push for every trigger, pings, redeliveries."""
    path = repo_path(call.instance, *split_name(repository)) + "/trigger-records"
    with call.api() as client:
        items = list_or_page(
            client,
            path,
            "trigger records",
            call.page,
            call.page_size,
            trigger=trigger,
            status=status,
        )
    print_list(items, RECORD_COLUMNS, call.as_json, rows=_record_rows)


def _record_rows(items: list[Record]) -> list[Record]:
    """Log records with their latency in whole milliseconds, as the table shows them."""
    return [
        {**r, "latency": f"{r['latencyMs']:.0f}" if r.get("latencyMs") is not None else None}
        for r in items
    ]


@command(app, "redeliver", instance=True)
def redeliver(
    repository: RepoArg,
    delivery_id: Annotated[
        str, typer.Argument(metavar="DELIVERY_ID", help="A delivery id from `trigger log`.")
    ],
    *,
    call: Call,
) -> None:
    """Deliver a logged delivery again, as a new delivery with a new id."""
    path = repo_path(call.instance, *split_name(repository))
    with call.api() as client:
        record = client.call("POST", f"{path}/trigger-records/{delivery_id}/redeliver")
    _show_record(record, call.as_json, f"Redelivery of {delivery_id}")


def _ping(client: ApiClient, path: str, name: str, as_json: bool) -> None:
    _show_record(client.call("POST", f"{path}/ping"), as_json, f"Ping of {name}")


_add_on_trigger("ping", "Send a test delivery to the trigger's URL.", _ping)
