"""``dockyard audit list``: who did what, from where, when, and how it ended."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import Call, command, list_or_page, print_list

app = typer.Typer(help="The audit log (kept audit_retention_days, 180 by default).")

_AGO = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

TimeOpt = Annotated[str | None, typer.Option(metavar="TIME")]

COLUMNS = [
    ("Time", "at"),
    ("Actor", "actor"),
    ("Source", "sourceIp"),
    ("Action", "action"),
    ("Resource", "resource"),
    ("Outcome", "outcome"),
]


def moment(value: str, flag: str, now: datetime | None = None) -> str:
    """An ISO 8601 time (UTC if no offset), or a duration ago: ``30m``, ``12h``, ``7d``."""
    value = value.strip()
    found = _AGO.match(value)
    if found:
        ago = timedelta(**{_UNITS[found[2]]: int(found[1])})
        return ((now or datetime.now(UTC)) - ago).isoformat()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{flag}: expected an ISO time or 30m/12h/7d, got {value!r}", 2) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "at": str(e.get("at", ""))[:19].replace("T", " ")} for e in items]


@command(app, "list", paged=True)
def list_events(
    actor: Annotated[str | None, typer.Option("--actor", help="User name.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="e.g. ram:CreateUser, signin.")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="success, failure or denied.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From (ISO time, or 30m/12h/7d ago).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Until (same forms).")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many events (newest).")
    ] = None,
    *,
    call: Call,
) -> None:
    """List audit events, newest first (every page unless --page or --limit)."""
    params = {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "since": moment(since, "--since") if since else None,
        "until": moment(until, "--until") if until else None,
    }
    with call.api() as client:
        items = list_or_page(
            client,
            "/audit-events",
            "audit events",
            call.page,
            call.page_size,
            limit=limit,
            **params,
        )
    print_list(items, COLUMNS, call.as_json, rows=_rows)
