"""Tags, manifests and layers of a repository."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._routes import repository_in, route
from dockyard.api.routers.params import (
    InstanceId,
    NamespaceName,
    Paging,
    Reference,
    RepositoryName,
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
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    paging: Paging,
    svc: Services,
    guard: Authz,
) -> Page[TagOut]:
    repo, _ = await repository_in(svc, guard, instance_id, namespace, repository)
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
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    tag: TagName,
    svc: Services,
    guard: Authz,
) -> None:
    repo, resource = await repository_in(svc, guard, instance_id, namespace, repository)
    await svc.content.delete_tag(repo, tag, actor=guard.actor, resource=resource)


@route(
    router,
    "GET",
    "/tags/{tag}/layers",
    actions.GET_REPOSITORY_LAYERS,
    "The layers of a tag's image, with the history entry that created each",
    response_model=LayersOut,
)
async def get_layers(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    tag: TagName,
    svc: Services,
    guard: Authz,
    platform: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$",
            description="os/arch[/variant]: which image of an index",
        ),
    ] = None,
) -> LayersOut:
    repo, _ = await repository_in(svc, guard, instance_id, namespace, repository)
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
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    reference: Reference,
    svc: Services,
    guard: Authz,
) -> ManifestOut:
    repo, _ = await repository_in(svc, guard, instance_id, namespace, repository)
    view = await svc.content.get_manifest(repo, reference)
    document: dict[str, Any] = orjson.loads(view.content)
    return ManifestOut(
        digest=view.digest, media_type=view.media_type, size=len(view.content), manifest=document
    )
