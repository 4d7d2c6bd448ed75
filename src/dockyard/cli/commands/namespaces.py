"""``dockyard namespace create|get|list|update|delete``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
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
)

app = typer.Typer(help="Namespaces of an instance.")

NamespaceArg = Annotated[str, typer.Argument(metavar="NAMESPACE", help="Namespace name.")]
AutoCreateOpt = Annotated[
    bool | None,
    typer.Option(
        "--auto-create/--no-auto-create",
        help="Whether a push to a missing repository creates it.",
        show_default=False,
    ),
]
DefaultTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--default-type", help="private or public: the type of repositories a push creates."
    ),
]

COLUMNS = [
    ("Name", "name"),
    ("Repositories", "repositoryCount"),
    ("Auto-create", "autoCreate"),
    ("Default type", "defaultRepositoryType"),
    ("Created", "createdAt"),
]


def _path(instance: str, name: str | None = None) -> str:
    base = f"/instances/{instance}/namespaces"
    return f"{base}/{name}" if name else base


def _show(namespace: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(namespace)
    else:
        print_record(namespace, [("Instance", "instanceId"), *COLUMNS, ("Updated", "updatedAt")])


@app.command("create")
@handles_errors
def create_namespace(
    name: NamespaceArg,
    auto_create: AutoCreateOpt = None,
    default_type: DefaultTypeOpt = None,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a namespace (counts against the edition's namespace limit)."""
    body: dict[str, Any] = {"name": name}
    if auto_create is not None:
        body["autoCreate"] = auto_create
    if default_type is not None:
        body["defaultRepositoryType"] = default_type
    with api(server) as client:
        created = client.call("POST", _path(instance), json=body)
    _show(created, as_json)


@app.command("get")
@handles_errors
def get_namespace(
    name: NamespaceArg,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a namespace."""
    with api(server) as client:
        _show(client.call("GET", _path(instance, name)), as_json)


@app.command("list")
@handles_errors
def list_namespaces(
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the namespaces of an instance."""
    with api(server) as client:
        items = list_or_page(client, _path(instance), "namespaces", page, page_size)
    if as_json:
        print_json(items)
    else:
        print_table(items, COLUMNS)


@app.command("update")
@handles_errors
def update_namespace(
    name: NamespaceArg,
    auto_create: AutoCreateOpt = None,
    default_type: DefaultTypeOpt = None,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a namespace's auto-create and default repository type."""
    body: dict[str, Any] = {}
    if auto_create is not None:
        body["autoCreate"] = auto_create
    if default_type is not None:
        body["defaultRepositoryType"] = default_type
    if not body:
        raise CliError("nothing to update: give --[no-]auto-create or --default-type", 2)
    with api(server) as client:
        updated = client.call("PATCH", _path(instance, name), json=body)
    _show(updated, as_json)


@app.command("delete")
@handles_errors
def delete_namespace(
    name: NamespaceArg,
    force: Annotated[bool, typer.Option("--force", help="Delete its repositories too.")] = False,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a namespace (refused while it holds repositories, unless --force)."""
    with api(server) as client:
        client.call("DELETE", _path(instance, name), params={"force": str(force).lower()})
    if as_json:
        print_json({"deleted": name})
    else:
        typer.echo(f"Deleted namespace {name}.")
