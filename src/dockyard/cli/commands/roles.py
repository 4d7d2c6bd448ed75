"""``dockyard role create|list|get|update|delete|attach-policy|detach-policy``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import JsonOpt, ServerOpt, api, handles_errors, print_record
from dockyard.cli.commands._identity import POLICY, ROLE, DescriptionOpt
from dockyard.cli.commands._shapes import (
    Link,
    Resource,
    Verb,
    add_delete,
    add_get,
    add_links,
    add_list,
    changes,
    given,
)

app = typer.Typer(help="Roles: named sets of policies, granted to users and groups.")

RoleArg = Annotated[str, ROLE]
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


def _record(_client: ApiClient, role: dict[str, Any]) -> None:
    print_record(role, [*COLUMNS, ("Updated", "updatedAt")])


ROLES = Resource("role", "roles", "/roles", ROLE, _record)


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
    body = given({"name": name, "description": description, "sharingScope": sharing_scope})
    if policy:
        body["policies"] = policy
    with api(server) as client:
        ROLES.create(client, body, as_json)


add_list(app, ROLES, "List the roles (built-in ones included).", COLUMNS)
add_get(app, ROLES, "Show a role and its policies.")


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
    body = changes(fields, "--description or --sharing-scope")
    with api(server) as client:
        ROLES.update(client, name, body, as_json)


add_delete(app, ROLES, "Delete a role (users and groups lose it).")
add_links(
    app,
    Link(ROLES, "role", POLICY, "policy", "policies", "attached"),
    Verb(
        "attach-policy", "Attach a policy to a role.", "Attached policy {target} to role {owner}."
    ),
    Verb(
        "detach-policy",
        "Detach a policy from a role.",
        "Detached policy {target} from role {owner}.",
    ),
)
