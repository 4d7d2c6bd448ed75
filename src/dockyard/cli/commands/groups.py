"""``dockyard group create|list|get|update|delete|add-member|remove-member|grant-role|…``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import Call, print_record
from dockyard.cli.commands._identity import (
    GROUP,
    ROLE,
    USERNAME,
    DescriptionOpt,
    NewNameOpt,
    OrgOpt,
    with_org_names,
)
from dockyard.cli.commands._shapes import (
    Link,
    Listing,
    Resource,
    Verb,
    add_commands,
    changes,
    given,
)

app = typer.Typer(help="User groups: members, roles, and the resource sets they reach.")

GroupArg = Annotated[str, GROUP]

COLUMNS = [
    ("Name", "name"),
    ("Organization", "organization"),
    ("Members", "members"),
    ("Roles", "roles"),
    ("Resource sets", "resourceSets"),
    ("Description", "description"),
    ("Created", "createdAt"),
]


def _record(client: ApiClient, group: dict[str, Any]) -> None:
    print_record(with_org_names(client, [group])[0], [*COLUMNS, ("Updated", "updatedAt")])


GROUPS = Resource("group", "groups", "/groups", GROUP, _record, org_key="organizationId")


def create_group(
    name: GroupArg, org: OrgOpt = None, description: DescriptionOpt = None, *, call: Call
) -> None:
    """Create a group in an organization (default: the root organization)."""
    body = given({"name": name, "organizationId": org or "root", "description": description})
    GROUPS.create(call, body)


def update_group(
    name: GroupArg,
    new_name: NewNameOpt = None,
    description: DescriptionOpt = None,
    org: OrgOpt = None,
    *,
    call: Call,
) -> None:
    """Rename, describe or move a group."""
    fields = {"name": new_name, "description": description, "organizationId": org}
    body = changes(fields, "--name, --description or --org")
    GROUPS.update(call, name, body)


add_commands(
    app,
    GROUPS,
    create=create_group,
    list=Listing("List the groups.", COLUMNS, rows=with_org_names, org_filter=True),
    get="Show a group.",
    update=update_group,
    delete="Delete a group (its members keep their own roles).",
    links=[
        Link(
            "group",
            USERNAME,
            "user",
            "members",
            "member",
            Verb("add-member", "Add a user to a group.", "Added {target} to group {owner}."),
            Verb(
                "remove-member",
                "Remove a user from a group.",
                "Removed {target} from group {owner}.",
            ),
        ),
        Link(
            "group",
            ROLE,
            "role",
            "roles",
            "granted",
            Verb(
                "grant-role",
                "Grant a role to a group: every member gets its permissions.",
                "Granted role {target} to group {owner}.",
            ),
            Verb(
                "revoke-role",
                "Take a role away from a group.",
                "Revoked role {target} from group {owner}.",
            ),
        ),
    ],
)
