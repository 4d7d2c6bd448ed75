"""Tags, manifests and layers of a repository."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.routers._routes import InRepository, route
from dockyard.api.routers.params import (
    Paging,
    Reference,
    TagName,
)
from dockyard.api.schemas.artifacts import LayersOut, ManifestOut, TagOut
from dockyard.api.schemas.common import Page

router = APIRouter(
    prefix="/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}",
    tags=["artifacts"],
)


@route(
    router,
    "GET",
    "/tags",
    actions.LIST_REPOSITORY_TAG,
    "List tags with digest, size, media type, artifact type and push time",
    response_model=Page[TagOut],
)
async def list_tags(
    target: InRepository,
    paging: Paging,
) -> Page[TagOut]:
    repo, svc = target.ref, target.svc
    return Page[TagOut].model_validate(await svc.content.list_tag_details(repo, paging))


@route(
    router,
    "DELETE",
    "/tags/{tag}",
    actions.DELETE_REPOSITORY_TAG,
    "Delete a tag (the manifest stays); refused for immutable tags",
    errors=(409,),
    status_code=204,
)
async def delete_tag(
    target: InRepository,
    tag: TagName,
) -> None:
    await target.svc.content.delete_tag(target.ref, tag, actor=target.actor, resource=target.arn)


@route(
    router,
    "GET",
    "/tags/{tag}/layers",
    actions.GET_REPOSITORY_LAYERS,
    "The layers of a tag's image, with the history entry that created each",
    response_model=LayersOut,
)
async def get_layers(
    target: InRepository,
    tag: TagName,
    platform: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$",
            description="os/arch[/variant]: which image of an index",
        ),
    ] = None,
) -> LayersOut:
    repo, svc = target.ref, target.svc
    return LayersOut.model_validate(await svc.content.layers(repo, tag, platform))


@route(
    router,
    "GET",
    "/manifests/{reference}",
    actions.GET_REPOSITORY_MANIFEST,
    "Get a manifest by tag or digest",
    response_model=ManifestOut,
)
async def get_manifest(
    target: InRepository,
    reference: Reference,
) -> ManifestOut:
    repo, svc = target.ref, target.svc
    view = await svc.content.get_manifest(repo, reference)
    document: dict[str, Any] = orjson.loads(view.content)
    return ManifestOut(
        digest=view.digest, media_type=view.media_type, size=len(view.content), manifest=document
    )
