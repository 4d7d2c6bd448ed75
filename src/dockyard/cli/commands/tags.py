"""``dockyard tag list|delete|layers|manifest``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiError
from dockyard.cli.commands._common import (
    InstanceOpt,
    JsonOpt,
    PageOpt,
    PageSizeOpt,
    ServerOpt,
    api,
    fail,
    handles_errors,
    human_size,
    list_or_page,
    print_json,
    print_list,
    print_record,
    print_table,
    progress,
    repo_path,
    split_name,
    split_reference,
    stderr,
)

app = typer.Typer(help="Tags, their manifests and layers: NAMESPACE/REPOSITORY:TAG.")


def _short(digest: Any) -> str:
    text = str(digest or "-")
    return text[:19] if text.startswith("sha256:") else text


@app.command("list")
@handles_errors
def list_tags(
    repository: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY")],
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List tags with digest, size, media type and push time."""
    path = repo_path(instance, *split_name(repository)) + "/tags"
    with api(server) as client:
        items = list_or_page(client, path, "tags", page, page_size)
    print_list(
        items,
        [
            ("Tag", "name"),
            ("Digest", "short"),
            ("Size", "human"),
            ("Media type", "mediaType"),
            ("Platforms", "platformList"),
            ("Pushed", "pushedAt"),
        ],
        as_json,
        rows=_tag_rows,
    )


def _tag_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tags with their short digest, size and platforms, as the table shows them."""
    return [
        {
            **t,
            "short": _short(t.get("digest")),
            "human": human_size(t.get("size")),
            "platformList": [f"{p['os']}/{p['architecture']}" for p in t.get("platforms", [])],
        }
        for t in items
    ]


@app.command("delete")
@handles_errors
def delete_tags(
    references: Annotated[
        list[str],
        typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG...", help="One or more tags."),
    ],
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete tags (each manifest stays while other tags or digests reference it).

    Every tag is attempted; the command fails (exit 1) if any deletion was refused.
    """
    parsed = [split_reference(ref) for ref in references]
    deleted: list[str] = []
    failed: list[dict[str, str]] = []
    with api(server) as client, progress("Deleting tags", total=len(parsed)) as update:
        for (namespace, repository, tag), ref in zip(parsed, references, strict=True):
            try:
                client.call("DELETE", repo_path(instance, namespace, repository) + f"/tags/{tag}")
                deleted.append(ref)
            except ApiError as exc:
                failed.append({"tag": ref, "code": exc.code, "message": exc.message})
                if not as_json:
                    stderr().print(f"error: {ref}: {exc.message}", highlight=False, markup=False)
            update(len(deleted) + len(failed))
    if as_json:
        print_json({"deleted": deleted, "failed": failed})
    else:
        for ref in deleted:
            typer.echo(f"Deleted {ref}.")
    if failed:
        if len(failed) == 1 and not deleted and not as_json:
            raise typer.Exit(1)
        raise fail(f"{len(failed)} of {len(parsed)} tag deletions failed")


@app.command("layers")
@handles_errors
def layers(
    reference: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG")],
    platform: Annotated[
        str | None,
        typer.Option("--platform", help="os/arch[/variant]: which image of an index."),
    ] = None,
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The layers of a tag's image, with the history entry that created each."""
    namespace, repository, tag = split_reference(reference)
    path = repo_path(instance, namespace, repository) + f"/tags/{tag}/layers"
    params = {"platform": platform} if platform else {}
    with api(server) as client:
        found = client.call("GET", path, params=params)
    if as_json:
        print_json(found)
        return
    print_record(found, [("Manifest", "manifestDigest"), ("Platform", "platform")])
    rows = [
        {
            **layer,
            "index": index,
            "short": _short(layer.get("digest")),
            "human": human_size(layer.get("size")),
            "createdBy": (layer.get("history") or {}).get("createdBy"),
        }
        for index, layer in enumerate(found.get("layers", []), start=1)
    ]
    print_table(
        rows,
        [
            ("#", "index"),
            ("Digest", "short"),
            ("Size", "human"),
            ("Media type", "mediaType"),
            ("Created by", "createdBy"),
        ],
    )


@app.command("manifest")
@handles_errors
def manifest(
    reference: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG|@DIGEST")],
    instance: InstanceOpt = "default",
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a manifest (by tag or digest)."""
    namespace, repository, ref = split_reference(reference, digest_ok=True)
    with api(server) as client:
        found = client.call("GET", repo_path(instance, namespace, repository) + f"/manifests/{ref}")
    if as_json:
        print_json(found)
        return
    print_record(found, [("Digest", "digest"), ("Media type", "mediaType"), ("Size", "size")])
    print_json(found.get("manifest"))
