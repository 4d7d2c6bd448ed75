"""``dockyard logon-policy create|list|get|update|delete``: when and from where users may
sign in (UTC time windows, source CIDRs)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import (
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
)
from dockyard.cli.commands._identity import DescriptionOpt, done

app = typer.Typer(help="Logon policies: sign-in time windows (UTC) and source networks.")

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Logon policy name.")]
WindowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        metavar="HH:MM-HH:MM",
        help="A UTC time window sign-in is allowed in; repeatable (none: any time).",
    ),
]
CidrOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cidr", help="A source network allowed to sign in; repeatable (none: anywhere)."
    ),
]

_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")

COLUMNS = [
    ("Name", "name"),
    ("Time windows (UTC)", "windowsText"),
    ("Networks", "cidrsText"),
    ("Description", "description"),
    ("Updated", "updatedAt"),
]


def windows(values: list[str]) -> list[dict[str, str]]:
    """``09:00-18:00`` → ``{"start": "09:00", "end": "18:00"}``."""
    found = []
    for value in values:
        if not _WINDOW.match(value.strip()):
            raise CliError(
                f"--window must be HH:MM-HH:MM (UTC; end may be 24:00), got {value!r}", 2
            )
        start, _, end = value.strip().partition("-")
        found.append({"start": start, "end": end})
    return found


def cidrs(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError as exc:
            raise CliError(f"--cidr: {exc}", 2) from exc
    return [v.strip() for v in values]


def _texts(policy: dict[str, Any]) -> dict[str, Any]:
    spans = [f"{w.get('start')}-{w.get('end')}" for w in policy.get("timeWindows") or []]
    return {
        **policy,
        "windowsText": ", ".join(spans) or "any time",
        "cidrsText": ", ".join(policy.get("cidrs") or []) or "anywhere",
    }


def _show(policy: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(policy)
    else:
        print_record(_texts(policy), [*COLUMNS[:-1], ("Created", "createdAt"), COLUMNS[-1]])


@app.command("create")
@handles_errors
def create_logon_policy(
    name: NameArg,
    window: WindowOpt = None,
    cidr: CidrOpt = None,
    description: DescriptionOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a logon policy (assign it with `dockyard user update U --logon-policy NAME`)."""
    body: dict[str, Any] = {
        "name": name,
        "timeWindows": windows(window or []),
        "cidrs": cidrs(cidr or []),
    }
    if description is not None:
        body["description"] = description
    with api(server) as client:
        _show(client.call("POST", "/logon-policies", json=body), as_json)


@app.command("list")
@handles_errors
def list_logon_policies(
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the logon policies."""
    with api(server) as client:
        items = list_or_page(client, "/logon-policies", "logon policies", page, page_size)
    if as_json:
        print_json(items)
    else:
        print_table([_texts(p) for p in items], COLUMNS)


@app.command("get")
@handles_errors
def get_logon_policy(name: NameArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Show a logon policy."""
    with api(server) as client:
        _show(client.call("GET", f"/logon-policies/{name}"), as_json)


@app.command("update")
@handles_errors
def update_logon_policy(
    name: NameArg,
    window: WindowOpt = None,
    cidr: CidrOpt = None,
    any_time: Annotated[bool, typer.Option("--any-time", help="Drop every time window.")] = False,
    anywhere: Annotated[bool, typer.Option("--anywhere", help="Drop every network.")] = False,
    description: DescriptionOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a logon policy: --window and --cidr replace the lists they name."""
    if window and any_time:
        raise CliError("--window and --any-time contradict each other", 2)
    if cidr and anywhere:
        raise CliError("--cidr and --anywhere contradict each other", 2)
    body: dict[str, Any] = {}
    if window or any_time:
        body["timeWindows"] = windows(window or [])
    if cidr or anywhere:
        body["cidrs"] = cidrs(cidr or [])
    if description is not None:
        body["description"] = description
    if not body:
        raise CliError("nothing to update: give --window, --cidr or --description", 2)
    with api(server) as client:
        _show(client.call("PATCH", f"/logon-policies/{name}", json=body), as_json)


@app.command("delete")
@handles_errors
def delete_logon_policy(name: NameArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a logon policy."""
    with api(server) as client:
        client.call("DELETE", f"/logon-policies/{name}")
    done(as_json, None, {"deleted": name}, f"Deleted logon policy {name}.")
