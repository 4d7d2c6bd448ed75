"""``dockyard namespace create|get|list|update|delete``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import Call, print_record
from dockyard.cli.commands._shapes import (
    Listing,
    Resource,
    add_commands,
    changes,
    delete_one,
    given,
)

app = typer.Typer(help="Namespaces of an instance.")

NAMESPACE = typer.Argument(metavar="NAMESPACE", help="Namespace name.")
NamespaceArg = Annotated[str, NAMESPACE]
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

OrganizationOpt = Annotated[
    str | None,
    typer.Option("--organization", help="The organization it belongs to (id or name)."),
]
ResourceSetOpt = Annotated[
    str | None, typer.Option("--resource-set", help="The resource set (name) it joins.")
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="The instance's region (the default; no other).")
]
#: Where a namespace or repository is filed, as records show it.
PLACEMENT_FIELDS = [
    ("Organization", "organizationId"),
    ("Resource set", "resourceSet"),
    ("Region", "region"),
]

COLUMNS = [
    ("Name", "name"),
    ("Repositories", "repositoryCount"),
    ("Auto-create", "autoCreate"),
    ("Default type", "defaultRepositoryType"),
    ("Resource set", "resourceSet"),
    ("Region", "region"),
    ("Created", "createdAt"),
]


def placement(
    organization: str | None, resource_set: str | None, region: str | None
) -> dict[str, str]:
    """The creation body's placement fields that were given (the organization as given: by
    id or name)."""
    return given({"organizationId": organization, "resourceSet": resource_set, "region": region})


def _record(_client: ApiClient, namespace: dict[str, Any]) -> None:
    print_record(
        namespace,
        [
            ("Instance", "instanceId"),
            *COLUMNS[:4],
            *PLACEMENT_FIELDS,
            ("Created", "createdAt"),
            ("Updated", "updatedAt"),
        ],
    )


NAMESPACES = Resource(
    "namespace",
    "namespaces",
    "/instances/{instance}/namespaces",
    NAMESPACE,
    _record,
    org_key="organizationId",
)


def _settings(auto_create: bool | None, default_type: str | None) -> dict[str, Any]:
    """The given settings of a namespace (create and update take the same options)."""
    return given({"autoCreate": auto_create, "defaultRepositoryType": default_type})


def create_namespace(
    name: NamespaceArg,
    auto_create: AutoCreateOpt = None,
    default_type: DefaultTypeOpt = None,
    organization: OrganizationOpt = None,
    resource_set: ResourceSetOpt = None,
    region: RegionOpt = None,
    *,
    call: Call,
) -> None:
    """Create a namespace (counts against the edition's namespace limit)."""
    settings = _settings(auto_create, default_type)
    body = {"name": name, **settings, **placement(organization, resource_set, region)}
    NAMESPACES.create(call, body)


def update_namespace(
    name: NamespaceArg,
    auto_create: AutoCreateOpt = None,
    default_type: DefaultTypeOpt = None,
    *,
    call: Call,
) -> None:
    """Change a namespace's auto-create and default repository type."""
    body = changes(_settings(auto_create, default_type), "--[no-]auto-create or --default-type")
    NAMESPACES.update(call, name, body)


def delete_namespace(
    name: NamespaceArg,
    force: Annotated[bool, typer.Option("--force", help="Delete its repositories too.")] = False,
    *,
    call: Call,
) -> None:
    """Delete a namespace (refused while it holds repositories, unless --force)."""
    delete_one(NAMESPACES, name, call, force=force)


add_commands(
    app,
    NAMESPACES,
    create=create_namespace,
    get="Show a namespace.",
    list=Listing("List the namespaces of an instance.", COLUMNS),
    update=update_namespace,
    delete=delete_namespace,
)
