"""Tags, manifests and layers of a repository."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
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
from dockyard.services.tenancy import RepositoryRef

router = APIRouter(
    prefix="/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}",
    tags=["artifacts"],
)


async def _repo(
    svc: Services, guard: Authz, instance_id: str, namespace: str, repository: str
) -> RepositoryRef:
    instance = await svc.tenancy.instance_ref(instance_id)
    guard.require(actions.repository_arn(instance, namespace, repository))
    return await svc.tenancy.repository_ref(instance_id, namespace, repository)


@router.get(
    "/tags",
    response_model=Page[TagOut],
    summary="List tags with digest, size, media type, artifact type and push time",
    openapi_extra=actions.action(actions.LIST_REPOSITORY_TAG),
    responses=responses(),
)
async def list_tags(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    paging: Paging,
    svc: Services,
    guard: Authz,
) -> Page[TagOut]:
    repo = await _repo(svc, guard, instance_id, namespace, repository)
    return Page[TagOut].model_validate(await svc.content.list_tag_details(repo, paging))


@router.delete(
    "/tags/{tag}",
    status_code=204,
    summary="Delete a tag (the manifest stays); refused for immutable tags",
    openapi_extra=actions.action(actions.DELETE_REPOSITORY_TAG),
    responses=responses(409),
)
async def delete_tag(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    tag: TagName,
    svc: Services,
    guard: Authz,
) -> None:
    repo = await _repo(svc, guard, instance_id, namespace, repository)
    instance = await svc.tenancy.instance_ref(instance_id)
    await svc.content.delete_tag(
        repo,
        tag,
        actor=guard.actor,
        resource=actions.repository_arn(instance, namespace, repository),
    )


@router.get(
    "/tags/{tag}/layers",
    response_model=LayersOut,
    summary="The layers of a tag's image, with the history entry that created each",
    openapi_extra=actions.action(actions.GET_REPOSITORY_LAYERS),
    responses=responses(),
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
    repo = await _repo(svc, guard, instance_id, namespace, repository)
    return LayersOut.model_validate(await svc.content.layers(repo, tag, platform))


@router.get(
    "/manifests/{reference}",
    response_model=ManifestOut,
    summary="Get a manifest by tag or digest",
    openapi_extra=actions.action(actions.GET_REPOSITORY_MANIFEST),
    responses=responses(),
)
async def get_manifest(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    reference: Reference,
    svc: Services,
    guard: Authz,
) -> ManifestOut:
    repo = await _repo(svc, guard, instance_id, namespace, repository)
    view = await svc.content.get_manifest(repo, reference)
    document: dict[str, Any] = orjson.loads(view.content)
    return ManifestOut(
        digest=view.digest, media_type=view.media_type, size=len(view.content), manifest=document
    )
