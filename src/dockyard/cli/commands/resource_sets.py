"""``dockyard resource-set create|list|get|update|delete|link-group|add-namespace|…``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import Call, print_record, split_name
from dockyard.cli.commands._identity import (
    GROUP,
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

app = typer.Typer(
    help="Resource sets: namespaces and repositories grouped for user groups, which get "
    "their roles' permissions on them."
)

SET = typer.Argument(metavar="SET", help="Resource set name.")
SetArg = Annotated[str, SET]

COLUMNS = [
    ("Name", "name"),
    ("Organization", "organization"),
    ("Groups", "groups"),
    ("Description", "description"),
    ("Created", "createdAt"),
]


def _members(found: Any) -> str:
    """Namespaces or repositories of a set, as ``instance:name`` (strings or objects)."""
    if not isinstance(found, list):
        return "-"
    names = []
    for item in found:
        if isinstance(item, dict):
            label = item.get("fullName") or item.get("name") or item.get("namespace") or "?"
            iid = item.get("instanceId")
            names.append(f"{iid}:{label}" if iid else str(label))
        else:
            names.append(str(item))
    return ", ".join(names) or "-"


def _record(client: ApiClient, found: dict[str, Any]) -> None:
    shown = {
        **with_org_names(client, [found])[0],
        "namespacesText": _members(found.get("namespaces")),
        "repositoriesText": _members(found.get("repositories")),
    }
    print_record(
        shown,
        [
            *COLUMNS[:3],
            ("Namespaces", "namespacesText"),
            ("Repositories", "repositoriesText"),
            *COLUMNS[3:],
            ("Updated", "updatedAt"),
        ],
    )


SETS = Resource(
    "resource set", "resource sets", "/resource-sets", SET, _record, org_key="organizationId"
)


def create_set(
    name: SetArg, org: OrgOpt = None, description: DescriptionOpt = None, *, call: Call
) -> None:
    """Create an empty resource set."""
    body = given({"name": name, "description": description, "organizationId": org})
    SETS.create(call, body)


def update_set(
    name: SetArg, new_name: NewNameOpt = None, description: DescriptionOpt = None, *, call: Call
) -> None:
    """Rename or describe a resource set."""
    body = changes({"name": new_name, "description": description}, "--name or --description")
    SETS.update(call, name, body)


add_commands(
    app,
    SETS,
    create=create_set,
    list=Listing("List the resource sets.", COLUMNS, rows=with_org_names),
    get="Show a resource set with its groups, namespaces and repositories.",
    update=update_set,
    delete="Delete a resource set (its namespaces and repositories stay).",
    links=[
        Link(
            "resourceSet",
            GROUP,
            "group",
            "groups",
            "linked",
            Verb(
                "link-group",
                "Link a group: its roles apply to the set's namespaces and repositories.",
                "Linked group {target} to resource set {owner}.",
            ),
            Verb(
                "unlink-group",
                "Unlink a group from the set.",
                "Unlinked group {target} from resource set {owner}.",
            ),
        ),
        Link(
            "resourceSet",
            typer.Argument(metavar="NAMESPACE", help="Namespace name."),
            "namespace",
            "namespaces",
            "member",
            Verb(
                "add-namespace",
                "Put a namespace (and so its repositories) into the set.",
                "Added namespace {target} ({instance}) to resource set {owner}.",
            ),
            Verb(
                "remove-namespace",
                "Take a namespace out of the set.",
                "Removed namespace {target} ({instance}) from resource set {owner}.",
            ),
            in_instance=True,
        ),
        Link(
            "resourceSet",
            typer.Argument(metavar="NAMESPACE/REPOSITORY", help="Repository full name."),
            "repository",
            "repositories",
            "member",
            Verb(
                "add-repository",
                "Put one repository into the set.",
                "Added repository {target} ({instance}) to resource set {owner}.",
            ),
            Verb(
                "remove-repository",
                "Take a repository out of the set.",
                "Removed repository {target} ({instance}) from resource set {owner}.",
            ),
            in_instance=True,
            target_path=lambda repository: "/".join(split_name(repository)),
        ),
    ],
)
