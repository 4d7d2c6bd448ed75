"""``dockyard org create|list|get|update|delete``: the organization tree."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import Call, print_record
from dockyard.cli.commands._identity import DescriptionOpt, NewNameOpt, org_id
from dockyard.cli.commands._shapes import Listing, Resource, add_commands, changes, given

app = typer.Typer(help="Organizations: the tree that users and groups belong to.")

ORG = typer.Argument(metavar="ORG", help="Organization id or name.")
OrgArg = Annotated[str, ORG]
ParentOpt = Annotated[
    str | None, typer.Option("--parent", help="Parent organization (id or name).")
]

COLUMNS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Parent", "parentId"),
    ("Description", "description"),
    ("Created", "createdAt"),
]


def _record(_client: ApiClient, org: dict[str, Any]) -> None:
    print_record(org, COLUMNS)


def _with_parent_names(_client: ApiClient, orgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {o["id"]: o["name"] for o in orgs}
    return [{**o, "parent": names.get(o.get("parentId"), o.get("parentId"))} for o in orgs]


ORGS = Resource(
    "organization",
    "organizations",
    "/organizations",
    ORG,
    _record,
    # Named by id or name; the path takes the id.
    locate=lambda client, _instance, org: f"/organizations/{org_id(client, org)}",
    org_key="parentId",
)


def create_org(
    name: Annotated[str, typer.Argument(help="Organization name.")],
    parent: ParentOpt = None,
    description: DescriptionOpt = None,
    *,
    call: Call,
) -> None:
    """Create an organization (under --parent; default: the root organization)."""
    body = given({"name": name, "parentId": parent or "root", "description": description})
    ORGS.create(call, body)


def update_org(
    org: OrgArg,
    name: NewNameOpt = None,
    description: DescriptionOpt = None,
    parent: ParentOpt = None,
    *,
    call: Call,
) -> None:
    """Rename, describe or move an organization."""
    fields = {"name": name, "description": description, "parentId": parent}
    body = changes(fields, "--name, --description or --parent")
    ORGS.update(call, org, body)


add_commands(
    app,
    ORGS,
    create=create_org,
    list=Listing(
        "List the organizations.",
        [(h, "parent" if k == "parentId" else k) for h, k in COLUMNS],
        rows=_with_parent_names,
    ),
    get="Show an organization.",
    update=update_org,
    delete="Delete an organization (refused while it has children, users or groups).",
)
