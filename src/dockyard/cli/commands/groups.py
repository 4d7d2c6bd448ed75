"""``dockyard group create|list|get|update|delete|add-member|remove-member|grant-role|…``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
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
from dockyard.cli.commands._identity import DescriptionOpt, OrgOpt, done, org_id, with_org_names
from dockyard.cli.commands._links import change_link

app = typer.Typer(help="User groups: members, roles, and the resource sets they reach.")

GroupArg = Annotated[str, typer.Argument(metavar="GROUP", help="Group name.")]
UserArg = Annotated[str, typer.Argument(metavar="USERNAME", help="User name.")]
RoleArg = Annotated[str, typer.Argument(metavar="ROLE", help="Role name.")]

COLUMNS = [
    ("Name", "name"),
    ("Organization", "organization"),
    ("Members", "members"),
    ("Roles", "roles"),
    ("Resource sets", "resourceSets"),
    ("Description", "description"),
    ("Created", "createdAt"),
]


def _show(client: ApiClient, group: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(group)
    else:
        print_record(with_org_names(client, [group])[0], [*COLUMNS, ("Updated", "updatedAt")])


@app.command("create")
@handles_errors
def create_group(
    name: GroupArg,
    org: OrgOpt = None,
    description: DescriptionOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a group in an organization (default: the root organization)."""
    with api(server) as client:
        body: dict[str, Any] = {"name": name, "organizationId": org_id(client, org or "root")}
        if description is not None:
            body["description"] = description
        _show(client, client.call("POST", "/groups", json=body), as_json)


@app.command("list")
@handles_errors
def list_groups(
    org: OrgOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the groups."""
    with api(server) as client:
        oid = org_id(client, org) if org else None
        items = list_or_page(client, "/groups", "groups", page, page_size, organizationId=oid)
        rows = items if as_json else with_org_names(client, items)
    if as_json:
        print_json(items)
    else:
        print_table(rows, COLUMNS)


@app.command("get")
@handles_errors
def get_group(name: GroupArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Show a group."""
    with api(server) as client:
        _show(client, client.call("GET", f"/groups/{name}"), as_json)


@app.command("update")
@handles_errors
def update_group(
    name: GroupArg,
    new_name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: DescriptionOpt = None,
    org: OrgOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename, describe or move a group."""
    body: dict[str, Any] = {}
    if new_name is not None:
        body["name"] = new_name
    if description is not None:
        body["description"] = description
    if not body and org is None:
        raise CliError("nothing to update: give --name, --description or --org", 2)
    with api(server) as client:
        if org is not None:
            body["organizationId"] = org_id(client, org)
        _show(client, client.call("PATCH", f"/groups/{name}", json=body), as_json)


@app.command("delete")
@handles_errors
def delete_group(name: GroupArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a group (its members keep their own roles)."""
    with api(server) as client:
        client.call("DELETE", f"/groups/{name}")
    done(as_json, None, {"deleted": name}, f"Deleted group {name}.")


@app.command("add-member")
@handles_errors
def add_member(
    name: GroupArg, username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Add a user to a group."""
    fallback = {"group": name, "user": username, "member": True}
    message = f"Added {username} to group {name}."
    change_link(server, as_json, "PUT", f"/groups/{name}/members/{username}", fallback, message)


@app.command("remove-member")
@handles_errors
def remove_member(
    name: GroupArg, username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Remove a user from a group."""
    fallback = {"group": name, "user": username, "member": False}
    message = f"Removed {username} from group {name}."
    change_link(server, as_json, "DELETE", f"/groups/{name}/members/{username}", fallback, message)


@app.command("grant-role")
@handles_errors
def grant_role(
    name: GroupArg, role: RoleArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Grant a role to a group: every member gets its permissions."""
    fallback = {"group": name, "role": role, "granted": True}
    message = f"Granted role {role} to group {name}."
    change_link(server, as_json, "PUT", f"/groups/{name}/roles/{role}", fallback, message)


@app.command("revoke-role")
@handles_errors
def revoke_role(
    name: GroupArg, role: RoleArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Take a role away from a group."""
    fallback = {"group": name, "role": role, "granted": False}
    message = f"Revoked role {role} from group {name}."
    change_link(server, as_json, "DELETE", f"/groups/{name}/roles/{role}", fallback, message)
