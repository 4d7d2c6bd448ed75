"""``dockyard org create|list|get|update|delete``: the organization tree."""

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
from dockyard.cli.commands._identity import DescriptionOpt, done, org_id

app = typer.Typer(help="Organizations: the tree that users and groups belong to.")

OrgArg = Annotated[str, typer.Argument(metavar="ORG", help="Organization id or name.")]
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


def _show(org: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(org)
    else:
        print_record(org, COLUMNS)


@app.command("create")
@handles_errors
def create_org(
    name: Annotated[str, typer.Argument(help="Organization name.")],
    parent: ParentOpt = None,
    description: DescriptionOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an organization (under --parent; default: the root organization)."""
    with api(server) as client:
        body: dict[str, Any] = {"name": name, "parentId": org_id(client, parent or "root")}
        if description is not None:
            body["description"] = description
        _show(client.call("POST", "/organizations", json=body), as_json)


@app.command("list")
@handles_errors
def list_orgs(
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the organizations."""
    with api(server) as client:
        items = list_or_page(client, "/organizations", "organizations", page, page_size)
    if as_json:
        print_json(items)
        return
    names = {o["id"]: o["name"] for o in items}
    rows = [{**o, "parent": names.get(o.get("parentId"), o.get("parentId"))} for o in items]
    print_table(rows, [(h, "parent" if k == "parentId" else k) for h, k in COLUMNS])


@app.command("get")
@handles_errors
def get_org(org: OrgArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Show an organization."""
    with api(server) as client:
        _show(client.call("GET", f"/organizations/{org_id(client, org)}"), as_json)


@app.command("update")
@handles_errors
def update_org(
    org: OrgArg,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: DescriptionOpt = None,
    parent: ParentOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename, describe or move an organization."""
    with api(server) as client:
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if parent is not None:
            body["parentId"] = org_id(client, parent)
        if not body:
            raise CliError("nothing to update: give --name, --description or --parent", 2)
        oid = org_id(client, org)
        _show(client.call("PATCH", f"/organizations/{oid}", json=body), as_json)


@app.command("delete")
@handles_errors
def delete_org(org: OrgArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Delete an organization (refused while it has children, users or groups)."""
    with api(server) as client:
        oid = org_id(client, org)
        client.call("DELETE", f"/organizations/{oid}")
    done(as_json, None, {"deleted": org}, f"Deleted organization {org}.")
