"""``dockyard role create|list|get|update|delete|attach-policy|detach-policy``."""

from __future__ import annotations

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
from dockyard.cli.commands._links import change_link

app = typer.Typer(help="Roles: named sets of policies, granted to users and groups.")

RoleArg = Annotated[str, typer.Argument(metavar="ROLE", help="Role name.")]
PolicyArg = Annotated[str, typer.Argument(metavar="POLICY", help="Policy name.")]
SharingOpt = Annotated[
    str | None,
    typer.Option("--sharing-scope", help="Who may grant it: global, organization or subtree."),
]

COLUMNS = [
    ("Name", "name"),
    ("Policies", "policies"),
    ("Built-in", "builtin"),
    ("Sharing", "sharingScope"),
    ("Description", "description"),
    ("Created", "createdAt"),
]


def _show(role: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(role)
    else:
        print_record(role, [*COLUMNS, ("Updated", "updatedAt")])


@app.command("create")
@handles_errors
def create_role(
    name: RoleArg,
    description: DescriptionOpt = None,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="Policy to attach; repeatable (5 at most).")
    ] = None,
    sharing_scope: SharingOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a role, optionally with policies attached."""
    body: dict[str, Any] = {"name": name}
    if description is not None:
        body["description"] = description
    if sharing_scope is not None:
        body["sharingScope"] = sharing_scope
    if policy:
        body["policies"] = policy
    with api(server) as client:
        _show(client.call("POST", "/roles", json=body), as_json)


@app.command("list")
@handles_errors
def list_roles(
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the roles (built-in ones included)."""
    with api(server) as client:
        items = list_or_page(client, "/roles", "roles", page, page_size)
    if as_json:
        print_json(items)
    else:
        print_table(items, COLUMNS)


@app.command("get")
@handles_errors
def get_role(name: RoleArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Show a role and its policies."""
    with api(server) as client:
        _show(client.call("GET", f"/roles/{name}"), as_json)


@app.command("update")
@handles_errors
def update_role(
    name: RoleArg,
    description: DescriptionOpt = None,
    sharing_scope: SharingOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a role's description or sharing scope."""
    fields = {"description": description, "sharingScope": sharing_scope}
    body = {k: v for k, v in fields.items() if v is not None}
    if not body:
        raise CliError("nothing to update: give --description or --sharing-scope", 2)
    with api(server) as client:
        _show(client.call("PATCH", f"/roles/{name}", json=body), as_json)


@app.command("delete")
@handles_errors
def delete_role(name: RoleArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a role (users and groups lose it)."""
    with api(server) as client:
        client.call("DELETE", f"/roles/{name}")
    done(as_json, None, {"deleted": name}, f"Deleted role {name}.")


@app.command("attach-policy")
@handles_errors
def attach_policy(
    name: RoleArg, policy: PolicyArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Attach a policy to a role."""
    fallback = {"role": name, "policy": policy, "attached": True}
    message = f"Attached policy {policy} to role {name}."
    change_link(server, as_json, "PUT", f"/roles/{name}/policies/{policy}", fallback, message)


@app.command("detach-policy")
@handles_errors
def detach_policy(
    name: RoleArg, policy: PolicyArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Detach a policy from a role."""
    fallback = {"role": name, "policy": policy, "attached": False}
    message = f"Detached policy {policy} from role {name}."
    change_link(server, as_json, "DELETE", f"/roles/{name}/policies/{policy}", fallback, message)
