"""``dockyard repo list|get|create|update|delete``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import (
    Call,
    list_or_page,
    print_list,
    print_record,
    repo_path,
    split_name,
)
from dockyard.cli.commands._identity import with_org_id
from dockyard.cli.commands._shapes import Resource, add_commands, changes, given
from dockyard.cli.commands.namespaces import (
    PLACEMENT_FIELDS,
    OrganizationOpt,
    RegionOpt,
    ResourceSetOpt,
    placement,
)

app = typer.Typer(help="Repositories: NAMESPACE/REPOSITORY.")

REPOSITORY = typer.Argument(metavar="NAMESPACE/REPOSITORY", help="The repository's full name.")
RepoArg = Annotated[str, REPOSITORY]
TypeOpt = Annotated[str | None, typer.Option("--type", help="private or public.")]
SummaryOpt = Annotated[str | None, typer.Option("--summary", help="Up to 100 characters.")]
DescriptionOpt = Annotated[
    str | None, typer.Option("--description", help="Up to 2,000 characters.")
]
ImmutableOpt = Annotated[
    bool | None,
    typer.Option(
        "--immutable/--mutable",
        help="Tag mutability: Immutable (Advanced edition) or Flexible.",
        show_default=False,
    ),
]

COLUMNS = [
    ("Repository", "fullName"),
    ("Type", "type"),
    ("Tags", "tagMutability"),
    ("Summary", "summary"),
    ("Resource set", "resourceSet"),
    ("Updated", "updatedAt"),
]


def _record(_client: ApiClient, repository: dict[str, Any]) -> None:
    print_record(
        repository,
        [
            ("ID", "id"),
            ("Instance", "instanceId"),
            ("Repository", "fullName"),
            ("Type", "type"),
            ("Tag mutability", "tagMutability"),
            ("Summary", "summary"),
            ("Description", "description"),
            *PLACEMENT_FIELDS,
            ("Created", "createdAt"),
            ("Updated", "updatedAt"),
        ],
    )


REPOSITORIES = Resource(
    "repository",
    "repositories",
    "/instances/{instance}/repositories",
    REPOSITORY,
    _record,
    locate=lambda _client, instance, name: repo_path(instance, *split_name(name)),
)


def _fields(
    type_: str | None, summary: str | None, description: str | None, immutable: bool | None
) -> dict[str, Any]:
    """The given settings of a repository (create and update take the same options)."""
    mutability = None if immutable is None else "Immutable" if immutable else "Flexible"
    return given(
        {
            "type": type_,
            "summary": summary,
            "description": description,
            "tagMutability": mutability,
        }
    )


def list_repositories(
    namespace: Annotated[
        str | None,
        typer.Argument(help="Only this namespace (default: the whole instance)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only names containing this.")] = None,
    *,
    call: Call,
) -> None:
    """List repositories of a namespace, or of the whole instance."""
    path = (
        f"/instances/{call.instance}/namespaces/{namespace}/repositories"
        if namespace
        else f"/instances/{call.instance}/repositories"
    )
    with call.api() as client:
        items = list_or_page(client, path, "repositories", call.page, call.page_size, name=name)
    print_list(items, COLUMNS, call.as_json)


def create_repository(
    repository: RepoArg,
    type_: TypeOpt = None,
    summary: SummaryOpt = None,
    description: DescriptionOpt = None,
    immutable: ImmutableOpt = None,
    organization: OrganizationOpt = None,
    resource_set: ResourceSetOpt = None,
    region: RegionOpt = None,
    *,
    call: Call,
) -> None:
    """Create a repository (counts against the edition's repository limits; the organization
    defaults to the namespace's)."""
    namespace, name = split_name(repository)
    body = {"name": name, **_fields(type_, summary, description, immutable)}
    with call.api() as client:
        body.update(with_org_id(client, placement(organization, resource_set, region)))
        created = client.call(
            "POST", f"/instances/{call.instance}/namespaces/{namespace}/repositories", json=body
        )
        REPOSITORIES.show(client, created, call.as_json)


def update_repository(
    repository: RepoArg,
    type_: TypeOpt = None,
    summary: SummaryOpt = None,
    description: DescriptionOpt = None,
    immutable: ImmutableOpt = None,
    *,
    call: Call,
) -> None:
    """Change a repository's type, texts or tag mutability (--immutable needs Advanced)."""
    body = changes(
        _fields(type_, summary, description, immutable),
        "--type, --summary, --description or --immutable/--mutable",
    )
    REPOSITORIES.update(call, repository, body)


add_commands(
    app,
    REPOSITORIES,
    list=list_repositories,
    get="Show a repository.",
    create=create_repository,
    update=update_repository,
    delete="Delete a repository with its tags and manifests.",
)
