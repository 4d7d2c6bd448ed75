"""``dockyard logon-policy create|list|get|update|delete``: when and from where users may
sign in (UTC time windows, source CIDRs)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import Call, print_record
from dockyard.cli.commands._identity import DescriptionOpt
from dockyard.cli.commands._shapes import Listing, Resource, add_commands, changes, given

app = typer.Typer(help="Logon policies: sign-in time windows (UTC) and source networks.")

NAME = typer.Argument(metavar="NAME", help="Logon policy name.")
NameArg = Annotated[str, NAME]
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


def _record(_client: ApiClient, policy: dict[str, Any]) -> None:
    print_record(_texts(policy), [*COLUMNS[:-1], ("Created", "createdAt"), COLUMNS[-1]])


LOGON_POLICIES = Resource("logon policy", "logon policies", "/logon-policies", NAME, _record)


def create_logon_policy(
    name: NameArg,
    window: WindowOpt = None,
    cidr: CidrOpt = None,
    description: DescriptionOpt = None,
    *,
    call: Call,
) -> None:
    """Create a logon policy (assign it with `dockyard user update U --logon-policy NAME`)."""
    fields = {
        "name": name,
        "timeWindows": windows(window or []),
        "cidrs": cidrs(cidr or []),
        "description": description,
    }
    LOGON_POLICIES.create(call, given(fields))


def update_logon_policy(
    name: NameArg,
    window: WindowOpt = None,
    cidr: CidrOpt = None,
    any_time: Annotated[bool, typer.Option("--any-time", help="Drop every time window.")] = False,
    anywhere: Annotated[bool, typer.Option("--anywhere", help="Drop every network.")] = False,
    description: DescriptionOpt = None,
    *,
    call: Call,
) -> None:
    """Change a logon policy: --window and --cidr replace the lists they name."""
    if window and any_time:
        raise CliError("--window and --any-time contradict each other", 2)
    if cidr and anywhere:
        raise CliError("--cidr and --anywhere contradict each other", 2)
    fields = {
        "timeWindows": windows(window or []) if window or any_time else None,
        "cidrs": cidrs(cidr or []) if cidr or anywhere else None,
        "description": description,
    }
    body = changes(fields, "--window, --cidr or --description")
    LOGON_POLICIES.update(call, name, body)


add_commands(
    app,
    LOGON_POLICIES,
    create=create_logon_policy,
    list=Listing(
        "List the logon policies.", COLUMNS, rows=lambda _client, items: [_texts(p) for p in items]
    ),
    get="Show a logon policy.",
    update=update_logon_policy,
    delete="Delete a logon policy.",
)
