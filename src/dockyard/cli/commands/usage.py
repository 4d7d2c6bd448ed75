"""``dockyard usage [NS[/REPO]]`` and ``dockyard quota set NS BYTES|none``: storage usage
of an instance, a namespace or a repository, what counts, and namespace quotas."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, CliError
from dockyard.cli.commands._common import (
    Call,
    command,
    human_size,
    print_json,
    print_record,
    print_table,
    repo_path,
    split_name,
)
from dockyard.errors import InvalidInputError
from dockyard.sizes import SIZE_HELP, read_size

#: The API's largest page.
PAGE_MAX = 100
quota_app = typer.Typer(help="Namespace byte quotas (on deduplicated usage).")

NAMESPACE_COLUMNS = [
    ("Namespace", "name"),
    ("Logical", "logicalHuman"),
    ("Deduplicated", "deduplicatedHuman"),
    ("Quota", "quotaHuman"),
    ("Used", "used"),
]
REPOSITORY_COLUMNS = [
    ("Repository", "name"),
    ("Manifests", "manifests"),
    ("Logical", "logicalHuman"),
    ("Deduplicated", "deduplicatedHuman"),
]
SHARED_COLUMNS = [
    ("Digest", "digest"),
    ("Size", "sizeHuman"),
    ("Manifests", "manifests"),
    ("Repositories", "repositories"),
]


def parse_size(text: str) -> int | None:
    """``text`` as bytes (see ``SIZE_HELP``); None for ``none``."""
    try:
        return read_size(text)
    except InvalidInputError as exc:
        raise CliError(exc.message, exit_code=2) from exc


def _sized(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with readable sizes (``…Human``) and the share of its quota used."""
    out = dict(row)
    for key in ("logical", "deduplicated", "quota", "size"):
        if key in row:
            out[f"{key}Human"] = "-" if row[key] is None else human_size(row[key])
    quota = row.get("quota")
    if quota:
        out["used"] = f"{100 * row['deduplicated'] / quota:.0f} %"
    return out


def _summary(kind: str, name: str, figures: dict[str, Any]) -> str:
    line = (
        f"{kind} {name}: logical {figures['logical']} bytes ({human_size(figures['logical'])}), "
        f"deduplicated {figures['deduplicated']} bytes ({human_size(figures['deduplicated'])})"
    )
    if figures.get("quota") is not None:
        line += f", quota {figures['quota']} bytes ({human_size(figures['quota'])})"
    return line


def show_usage(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[NS[/REPO]]", help="A namespace or repository; none: the whole instance."
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="For a namespace: what counts and why, shared content."),
    ] = False,
    *,
    call: Call,
) -> None:
    """Storage usage in bytes: logical (as pushed) and deduplicated (each layer once)."""
    if explain and (target is None or "/" in target):
        raise CliError("--explain explains a namespace: give NS", exit_code=2)
    base = f"/instances/{call.instance}"
    with call.api() as client:
        if target is None:
            found = _pages(client, call, f"{base}/usage", "namespaces", "namespaceCount")
            rows, title = found["namespaces"], _summary("Instance", call.instance, found)
            columns = NAMESPACE_COLUMNS
        elif "/" in target:
            namespace, repository = split_name(target)
            found = client.call("GET", repo_path(call.instance, namespace, repository) + "/usage")
            if call.as_json:
                print_json(found)
            else:
                print_record(_sized(found), [("Repository", "name"), *REPOSITORY_COLUMNS[1:]])
            return
        elif explain:
            found = client.call("GET", f"{base}/namespaces/{target}/usage/explain")
            if call.as_json:
                print_json(found)
            else:
                _print_explanation(found)
            return
        else:
            path = f"{base}/namespaces/{target}/usage"
            found = _pages(client, call, path, "repositories", "repositoryCount")
            rows, title = found["repositories"], _summary("Namespace", target, found["namespace"])
            columns = REPOSITORY_COLUMNS
    if call.as_json:
        print_json(found)
        return
    typer.echo(title)
    print_table([_sized(row) for row in rows], columns)


def _pages(client: ApiClient, call: Call, path: str, items: str, count: str) -> dict[str, Any]:
    """The answer at ``path`` with ``items`` of the page asked for, or of every page."""
    if call.page is not None:
        return dict(
            client.call("GET", path, params={"page": call.page, "pageSize": call.page_size})
        )
    found: dict[str, Any] = client.call("GET", path, params={"page": 1, "pageSize": PAGE_MAX})
    page = 1
    while len(found[items]) < found[count]:
        page += 1
        more = client.call("GET", path, params={"page": page, "pageSize": PAGE_MAX})
        if not more[items]:
            break
        found[items].extend(more[items])
    return found


def _print_explanation(found: dict[str, Any]) -> None:
    namespace = found["namespace"]
    typer.echo(_summary("Namespace", namespace["name"], namespace))
    typer.echo(
        f"{found['distinctContent']} distinct digests counted once each; "
        f"{found['sharedContent']} of them held by several manifests "
        f"({human_size(found['sharedBytes'])} counted once); sharing saves "
        f"{found['saved']} bytes ({human_size(found['saved'])})."
    )
    for rule in found["rules"]:
        typer.echo(f"- {rule}")
    if found["largestShared"]:
        print_table([_sized(row) for row in found["largestShared"]], SHARED_COLUMNS)


def set_quota(
    namespace: Annotated[str, typer.Argument(metavar="NS", help="The namespace.")],
    size: Annotated[str, typer.Argument(metavar="BYTES|none", help=SIZE_HELP)],
    *,
    call: Call,
) -> None:
    """Set or clear a namespace's quota on deduplicated usage; pushes beyond it are refused."""
    quota = parse_size(size)
    path = f"/instances/{call.instance}/namespaces/{namespace}/quota"
    with call.api() as client:
        found = client.call("PUT", path, json={"quota": quota})
    if call.as_json:
        print_json(found)
    else:
        typer.echo(_summary("Namespace", namespace, found))


def register(app: typer.Typer) -> None:
    command(app, "usage", instance=True, paged=True)(show_usage)
    command(quota_app, "set", instance=True)(set_quota)
    app.add_typer(quota_app, name="quota", no_args_is_help=True)
