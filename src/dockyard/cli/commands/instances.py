"""``dockyard instance list|get|create|update|delete``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    if_match,
    print_json,
    print_record,
    print_table,
)
from dockyard.cli.commands._shapes import (
    Listing,
    Resource,
    add_commands,
    changes,
    delete_one,
    given,
)

app = typer.Typer(help="Instances: editions, regions, endpoints and their allowlists.")

NETWORK_TYPES = ("vpc", "public", "classic")

EndpointOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--endpoint",
        help="TYPE=DOMAIN (TYPE: vpc, public, classic); repeatable. Replaces every endpoint.",
    ),
]
AllowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow",
        help="TYPE=CIDR: admit this source network on the endpoint of TYPE; repeatable.",
    ),
]


def _pair(value: str, what: str) -> tuple[str, str]:
    kind, sep, rest = value.partition("=")
    kind = kind.strip().lower()
    if not sep or kind not in NETWORK_TYPES or not rest.strip():
        raise CliError(f"{what} must be TYPE=VALUE with TYPE one of vpc, public, classic", 2)
    return kind, rest.strip()


def _allowlist(entries: list[dict[str, Any]]) -> str:
    return ", ".join(e["cidr"] for e in entries) or "open"


def _record(_client: ApiClient, instance: dict[str, Any]) -> None:
    print_record(
        instance,
        [
            ("ID", "id"),
            ("Name", "name"),
            ("Region", "region"),
            ("Edition", "edition"),
            ("Created", "createdAt"),
            ("Updated", "updatedAt"),
        ],
    )
    endpoints = [
        {**e, "allowlistText": _allowlist(e["allowlist"])} for e in instance.get("endpoints", [])
    ]
    if endpoints:
        print_table(
            endpoints,
            [
                ("Network", "networkType"),
                ("Domain", "domain"),
                ("Enabled", "enabled"),
                ("Allowlist", "allowlistText"),
            ],
            title="Endpoints",
        )


INSTANCE = typer.Argument(metavar="INSTANCE", help="Instance id.")
InstanceArg = Annotated[str, INSTANCE]
INSTANCES = Resource("instance", "instances", "/instances", INSTANCE, _record)


def _endpoints(
    current: list[dict[str, Any]],
    endpoint: list[str] | None,
    allow: list[str] | None,
    clear_allowlist: list[str] | None,
) -> list[dict[str, Any]]:
    """The endpoint set a create/update sends (the API replaces the whole set)."""
    by_type: dict[str, dict[str, Any]] = {}
    if endpoint:
        for value in endpoint:
            kind, domain = _pair(value, "--endpoint")
            old = next((e for e in current if e["networkType"] == kind), None)
            by_type[kind] = {
                "networkType": kind,
                "domain": domain,
                "enabled": old["enabled"] if old else True,
                "allowlist": list(old["allowlist"]) if old else [],
            }
    else:
        for e in current:
            by_type[e["networkType"]] = {
                "networkType": e["networkType"],
                "domain": e["domain"],
                "enabled": e["enabled"],
                "allowlist": [
                    {"cidr": a["cidr"], "description": a.get("description", "")}
                    for a in e["allowlist"]
                ],
            }
    for kind in clear_allowlist or []:
        if kind not in by_type:
            raise CliError(f"the instance has no {kind} endpoint", 2)
        by_type[kind]["allowlist"] = []
    for value in allow or []:
        kind, cidr = _pair(value, "--allow")
        if kind not in by_type:
            raise CliError(f"no {kind} endpoint: add one with --endpoint {kind}=DOMAIN", 2)
        if all(a["cidr"] != cidr for a in by_type[kind]["allowlist"]):
            by_type[kind]["allowlist"].append({"cidr": cidr, "description": ""})
    return list(by_type.values())


def create_instance(
    name: Annotated[str, typer.Argument(help="Display name.")],
    region: Annotated[str, typer.Option("--region", help="Region id.")] = "local",
    edition: Annotated[
        str, typer.Option("--edition", help="Standard or Advanced.", case_sensitive=False)
    ] = "Standard",
    endpoint: EndpointOpt = None,
    allow: AllowOpt = None,
    *,
    call: Call,
) -> None:
    """Create an instance (optionally with endpoints and allowlists)."""
    body = {
        "name": name,
        "region": region,
        "edition": edition.capitalize(),
        "endpoints": _endpoints([], endpoint, allow, None),
    }
    INSTANCES.create(call, body)


def update_instance(
    instance_id: InstanceArg,
    name: Annotated[str | None, typer.Option("--name")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    edition: Annotated[str | None, typer.Option("--edition", help="Standard or Advanced.")] = None,
    endpoint: EndpointOpt = None,
    allow: AllowOpt = None,
    clear_allowlist: Annotated[
        list[str] | None,
        typer.Option("--clear-allowlist", help="TYPE: empty this endpoint's allowlist."),
    ] = None,
    no_endpoints: Annotated[
        bool, typer.Option("--no-endpoints", help="Remove every endpoint.")
    ] = False,
    *,
    call: Call,
) -> None:
    """Update an instance. A downgrade is refused while it holds more than the target allows."""
    body = given(
        {
            "name": name,
            "region": region,
            "edition": None if edition is None else edition.capitalize(),
        }
    )
    with call.api() as client:
        etag = None
        if no_endpoints:
            body["endpoints"] = []
        elif endpoint or allow or clear_allowlist:
            current, etag = client.etag_of(f"/instances/{instance_id}")
            body["endpoints"] = _endpoints(
                current.get("endpoints", []), endpoint, allow, clear_allowlist
            )
        body = changes(body, "at least one option")
    INSTANCES.update(call, instance_id, body, headers=if_match(etag))


def delete_instance(
    instance_id: InstanceArg,
    force: Annotated[
        bool, typer.Option("--force", help="Delete its namespaces and repositories too.")
    ] = False,
    *,
    call: Call,
) -> None:
    """Delete an instance (refused while it holds namespaces, unless --force; never `default`)."""
    delete_one(INSTANCES, instance_id, call, force=force)


add_commands(
    app,
    INSTANCES,
    list=Listing(
        "List instances.",
        [
            ("ID", "id"),
            ("Name", "name"),
            ("Region", "region"),
            ("Edition", "edition"),
            ("Endpoints", "endpointCount"),
            ("Created", "createdAt"),
        ],
        rows=lambda _client, items: [
            {**i, "endpointCount": len(i.get("endpoints", []))} for i in items
        ],
    ),
    get="Show an instance with its endpoints and allowlists.",
    create=create_instance,
    update=update_instance,
    delete=delete_instance,
)


LIMIT_COLUMNS = [("Limit", "name"), ("Used", "used"), ("Of", "limitText")]


@command(app, "limits")
def show_limits(instance_id: InstanceArg, *, call: Call) -> None:
    """The limits of the instance's edition and what each counts now."""
    with call.api() as client:
        found = client.call("GET", f"/instances/{instance_id}/limits")
    if call.as_json:
        print_json(found)
        return
    typer.echo(f"Instance {found['instanceId']} ({found['edition']} edition)")
    rows = [
        {**row, "limitText": "no limit" if row["limit"] is None else row["limit"]}
        for row in found["limits"]
    ]
    print_table(rows, LIMIT_COLUMNS)
