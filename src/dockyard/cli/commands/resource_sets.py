"""``dockyard resource-set create|list|get|update|delete|link-group|add-namespace|…``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    InstanceOpt,
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
    split_name,
)
from dockyard.cli.commands._identity import DescriptionOpt, OrgOpt, done, org_id, with_org_names

app = typer.Typer(
    help="Resource sets: namespaces and repositories grouped for user groups, which get "
    "their roles' permissions on them."
)

SetArg = Annotated[str, typer.Argument(metavar="SET", help="Resource set name.")]
GroupArg = Annotated[str, typer.Argument(metavar="GROUP", help="Group name.")]
NamespaceArg = Annotated[str, typer.Argument(metavar="NAMESPACE", help="Namespace name.")]
RepoArg = Annotated[
    str, typer.Argument(metavar="NAMESPACE/REPOSITORY", help="Repository full name.")
]

COLUMNS = [
    ("Name", "name"),
    ("Organization", "organization"),
    ("Groups", "groups"),
    ("Description", "description"),
    ("Created", "createdAt"),
]


def _path(name: str | None = None) -> str:
    return f"/resource-sets/{name}" if name else "/resource-sets"


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


def _show(client: ApiClient, found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
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


@app.command("create")
@handles_errors
def create_set(
    name: SetArg,
    org: OrgOpt = None,
    description: DescriptionOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an empty resource set."""
    body: dict[str, Any] = {"name": name}
    if description is not None:
        body["description"] = description
    with api(server) as client:
        if org is not None:
            body["organizationId"] = org_id(client, org)
        _show(client, client.call("POST", _path(), json=body), as_json)


@app.command("list")
@handles_errors
def list_sets(
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the resource sets."""
    with api(server) as client:
        items = list_or_page(client, _path(), "resource sets", page, page_size)
        rows = items if as_json else with_org_names(client, items)
    if as_json:
        print_json(items)
    else:
        print_table(rows, COLUMNS)


@app.command("get")
@handles_errors
def get_set(name: SetArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Show a resource set with its groups, namespaces and repositories."""
    with api(server) as client:
        _show(client, client.call("GET", _path(name)), as_json)


@app.command("update")
@handles_errors
def update_set(
    name: SetArg,
    new_name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: DescriptionOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename or describe a resource set."""
    body: dict[str, Any] = {}
    if new_name is not None:
        body["name"] = new_name
    if description is not None:
        body["description"] = description
    if not body:
        raise CliError("nothing to update: give --name or --description", 2)
    with api(server) as client:
        _show(client, client.call("PATCH", _path(name), json=body), as_json)


@app.command("delete")
@handles_errors
def delete_set(name: SetArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a resource set (its namespaces and repositories stay)."""
    with api(server) as client:
        client.call("DELETE", _path(name))
    done(as_json, None, {"deleted": name}, f"Deleted resource set {name}.")


def _change(
    method: str, path: str, server: str | None, as_json: bool, fallback: dict[str, Any], msg: str
) -> None:
    with api(server) as client:
        result = client.call(method, path)
    done(as_json, result, fallback, msg)


@app.command("link-group")
@handles_errors
def link_group(
    name: SetArg, group: GroupArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Link a group: its roles apply to the set's namespaces and repositories."""
    _change(
        "PUT",
        f"{_path(name)}/groups/{group}",
        server,
        as_json,
        {"resourceSet": name, "group": group, "linked": True},
        f"Linked group {group} to resource set {name}.",
    )


@app.command("unlink-group")
@handles_errors
def unlink_group(
    name: SetArg, group: GroupArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Unlink a group from the set."""
    _change(
        "DELETE",
        f"{_path(name)}/groups/{group}",
        server,
        as_json,
        {"resourceSet": name, "group": group, "linked": False},
        f"Unlinked group {group} from resource set {name}.",
    )


@app.command("add-namespace")
@handles_errors
def add_namespace(
    name: SetArg,
    namespace: NamespaceArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put a namespace (and so its repositories) into the set."""
    _change(
        "PUT",
        f"{_path(name)}/namespaces/{instance}/{namespace}",
        server,
        as_json,
        {"resourceSet": name, "instanceId": instance, "namespace": namespace, "member": True},
        f"Added namespace {namespace} ({instance}) to resource set {name}.",
    )


@app.command("remove-namespace")
@handles_errors
def remove_namespace(
    name: SetArg,
    namespace: NamespaceArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a namespace out of the set."""
    _change(
        "DELETE",
        f"{_path(name)}/namespaces/{instance}/{namespace}",
        server,
        as_json,
        {"resourceSet": name, "instanceId": instance, "namespace": namespace, "member": False},
        f"Removed namespace {namespace} ({instance}) from resource set {name}.",
    )


@app.command("add-repository")
@handles_errors
def add_repository(
    name: SetArg,
    repository: RepoArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put one repository into the set."""
    ns, repo = split_name(repository)
    _change(
        "PUT",
        f"{_path(name)}/repositories/{instance}/{ns}/{repo}",
        server,
        as_json,
        {"resourceSet": name, "instanceId": instance, "repository": repository, "member": True},
        f"Added repository {repository} ({instance}) to resource set {name}.",
    )


@app.command("remove-repository")
@handles_errors
def remove_repository(
    name: SetArg,
    repository: RepoArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a repository out of the set."""
    ns, repo = split_name(repository)
    _change(
        "DELETE",
        f"{_path(name)}/repositories/{instance}/{ns}/{repo}",
        server,
        as_json,
        {"resourceSet": name, "instanceId": instance, "repository": repository, "member": False},
        f"Removed repository {repository} ({instance}) from resource set {name}.",
    )
