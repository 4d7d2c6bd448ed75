"""The organization tree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.errors import responses
from dockyard.api.routers._identity import OrganizationId, caller, require
from dockyard.api.routers.params import IfMatch, Paging, set_etag
from dockyard.api.schemas.common import Page
from dockyard.api.schemas.identity import OrganizationCreate, OrganizationOut, OrganizationUpdate

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])


@router.post(
    "",
    status_code=201,
    response_model=OrganizationOut,
    summary="Create an organization under an existing parent",
    openapi_extra=actions.action(actions.CREATE_ORGANIZATION),
    responses=responses(409),
)
async def create_organization(
    body: OrganizationCreate, response: Response, svc: Services, guard: Authz
) -> OrganizationOut:
    service = await require(svc.organizations, guard, "*")
    view = await service.create_organization(
        caller(guard), body.name, body.parent_id, body.description
    )
    set_etag(response, view.etag)
    return OrganizationOut.model_validate(view)


@router.get(
    "",
    response_model=Page[OrganizationOut],
    summary="List organizations",
    openapi_extra=actions.action(actions.LIST_ORGANIZATIONS),
    responses=responses(),
)
async def list_organizations(
    paging: Paging,
    svc: Services,
    guard: Authz,
    parent_id: Annotated[
        str | None, Query(alias="parentId", max_length=64, description="Only its children")
    ] = None,
) -> Page[OrganizationOut]:
    service = await require(svc.organizations, guard, "*")
    return Page[OrganizationOut].model_validate(await service.list_organizations(paging, parent_id))


@router.get(
    "/{organization_id}",
    response_model=OrganizationOut,
    summary="Get an organization",
    openapi_extra=actions.action(actions.GET_ORGANIZATION),
    responses=responses(),
)
async def get_organization(
    organization_id: OrganizationId, response: Response, svc: Services, guard: Authz
) -> OrganizationOut:
    service = await require(svc.organizations, guard, f"organization/{organization_id}")
    view = await service.get_organization(organization_id)
    set_etag(response, view.etag)
    return OrganizationOut.model_validate(view)


@router.patch(
    "/{organization_id}",
    response_model=OrganizationOut,
    summary="Rename, describe or move an organization (no cycles)",
    openapi_extra=actions.action(actions.UPDATE_ORGANIZATION),
    responses=responses(409, 412),
)
async def update_organization(
    organization_id: OrganizationId,
    body: OrganizationUpdate,
    response: Response,
    svc: Services,
    guard: Authz,
    if_match: IfMatch = None,
) -> OrganizationOut:
    service = await require(svc.organizations, guard, f"organization/{organization_id}")
    view = await service.update_organization(
        caller(guard),
        organization_id,
        name=body.name,
        description=body.description,
        parent_id=body.parent_id,
        if_match=if_match,
    )
    set_etag(response, view.etag)
    return OrganizationOut.model_validate(view)


@router.delete(
    "/{organization_id}",
    status_code=204,
    summary="Delete an organization (refused while it has children, users or groups)",
    openapi_extra=actions.action(actions.DELETE_ORGANIZATION),
    responses=responses(409),
)
async def delete_organization(organization_id: OrganizationId, svc: Services, guard: Authz) -> None:
    service = await require(svc.organizations, guard, f"organization/{organization_id}")
    await service.delete_organization(caller(guard), organization_id)
