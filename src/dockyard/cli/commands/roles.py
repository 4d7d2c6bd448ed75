"""``dockyard role create|list|get|update|delete|attach-policy|detach-policy``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import Call, print_record
from dockyard.cli.commands._identity import POLICY, ROLE, DescriptionOpt
from dockyard.cli.commands._shapes import (
    Link,
    Listing,
    Resource,
    Verb,
    add_commands,
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


def create_role(
    name: RoleArg,
    description: DescriptionOpt = None,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="Policy to attach; repeatable (5 at most).")
    ] = None,
    sharing_scope: SharingOpt = None,
    *,
    call: Call,
) -> None:
    """Create a role, optionally with policies attached."""
    body = given({"name": name, "description": description, "sharingScope": sharing_scope})
    if policy:
        body["policies"] = policy
    ROLES.create(call, body)


def update_role(
    name: RoleArg,
    description: DescriptionOpt = None,
    sharing_scope: SharingOpt = None,
    *,
    call: Call,
) -> None:
    """Change a role's description or sharing scope."""
    fields = {"description": description, "sharingScope": sharing_scope}
    body = changes(fields, "--description or --sharing-scope")
    ROLES.update(call, name, body)


add_commands(
    app,
    ROLES,
    create=create_role,
    list=Listing("List the roles (built-in ones included).", COLUMNS),
    get="Show a role and its policies.",
    update=update_role,
    delete="Delete a role (users and groups lose it).",
    links=[
        Link(
            "role",
            POLICY,
            "policy",
            "policies",
            "attached",
            Verb(
                "attach-policy",
                "Attach a policy to a role.",
                "Attached policy {target} to role {owner}.",
            ),
            Verb(
                "detach-policy",
                "Detach a policy from a role.",
                "Detached policy {target} from role {owner}.",
            ),
        )
    ],
)
