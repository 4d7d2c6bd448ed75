"""``dockyard tag list|delete|layers|manifest``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiError
from dockyard.cli.commands._common import (
    Call,
    command,
    fail,
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


@command(app, "list", instance=True, paged=True)
def list_tags(
    repository: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY")],
    *,
    call: Call,
) -> None:
    """List tags with digest, size, media type and push time."""
    path = repo_path(call.instance, *split_name(repository)) + "/tags"
    with call.api() as client:
        items = list_or_page(client, path, "tags", call.page, call.page_size)
    print_list(
        items,
        [
            ("Tag", "name"),
            ("Digest", "short"),
            ("Size", "human"),
            ("Media type", "mediaType"),
            ("Platforms", "platformList"),
            ("Pushed", "pushedAt"),
            ("Pushed by", "pushedBy"),
        ],
        call.as_json,
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


@command(app, "delete", instance=True)
def delete_tags(
    references: Annotated[
        list[str],
        typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG...", help="One or more tags."),
    ],
    *,
    call: Call,
) -> None:
    """Delete tags (each manifest stays while other tags or digests reference it).

    Every tag is attempted; the command fails (exit 1) if any deletion was refused.
    """
    parsed = [split_reference(ref) for ref in references]
    deleted: list[str] = []
    failed: list[dict[str, str]] = []
    with call.api() as client, progress("Deleting tags", total=len(parsed)) as update:
        for (namespace, repository, tag), ref in zip(parsed, references, strict=True):
            try:
                client.call(
                    "DELETE", repo_path(call.instance, namespace, repository) + f"/tags/{tag}"
                )
                deleted.append(ref)
            except ApiError as exc:
                failed.append({"tag": ref, "code": exc.code, "message": exc.message})
                if not call.as_json:
                    stderr().print(f"error: {ref}: {exc.message}", highlight=False, markup=False)
            update(len(deleted) + len(failed))
    if call.as_json:
        print_json({"deleted": deleted, "failed": failed})
    else:
        for ref in deleted:
            typer.echo(f"Deleted {ref}.")
    if failed:
        if len(failed) == 1 and not deleted and not call.as_json:
            raise typer.Exit(1)
        raise fail(f"{len(failed)} of {len(parsed)} tag deletions failed")


@command(app, "layers", instance=True)
def layers(
    reference: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG")],
    platform: Annotated[
        str | None,
        typer.Option("--platform", help="os/arch[/variant]: which image of an index."),
    ] = None,
    *,
    call: Call,
) -> None:
    """The layers of a tag's image, with the history entry that created each."""
    namespace, repository, tag = split_reference(reference)
    path = repo_path(call.instance, namespace, repository) + f"/tags/{tag}/layers"
    params = {"platform": platform} if platform else {}
    with call.api() as client:
        found = client.call("GET", path, params=params)
    if call.as_json:
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


@command(app, "manifest", instance=True)
def manifest(
    reference: Annotated[str, typer.Argument(metavar="NAMESPACE/REPOSITORY:TAG|@DIGEST")],
    *,
    call: Call,
) -> None:
    """Print a manifest (by tag or digest)."""
    namespace, repository, ref = split_reference(reference, digest_ok=True)
    with call.api() as client:
        found = client.call(
            "GET", repo_path(call.instance, namespace, repository) + f"/manifests/{ref}"
        )
    if call.as_json:
        print_json(found)
        return
    print_record(found, [("Digest", "digest"), ("Media type", "mediaType"), ("Size", "size")])
    print_json(found.get("manifest"))
