"""The organization tree."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.routers._identity import Aggregate, Narrow, OrganizationId
from dockyard.api.schemas.identity import OrganizationCreate, OrganizationOut, OrganizationUpdate
from dockyard.services.identity import Caller, OrganizationService, OrganizationView

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])
organizations = Aggregate(
    router,
    lambda svc: svc.identity.organizations,
    OrganizationOut,
    kind="organization",
    key="organization_id",
    key_type=OrganizationId,
)


async def _create(
    service: OrganizationService, who: Caller, body: OrganizationCreate
) -> OrganizationView:
    return await service.create_organization(who, body.name, body.parent_id, body.description)


async def _update(
    service: OrganizationService,
    who: Caller,
    organization_id: str,
    body: OrganizationUpdate,
    if_match: str | None,
) -> OrganizationView:
    return await service.update_organization(
        who,
        organization_id,
        name=body.name,
        description=body.description,
        parent_id=body.parent_id,
        if_match=if_match,
    )


organizations.create(
    OrganizationCreate,
    _create,
    name="create_organization",
    summary="Create an organization under an existing parent",
    action=actions.CREATE_ORGANIZATION,
)


organizations.list(
    OrganizationService.list_organizations,
    name="list_organizations",
    summary="List organizations",
    action=actions.LIST_ORGANIZATIONS,
    narrow=Narrow("parentId", "Only its children"),
)


organizations.get(
    OrganizationService.get_organization,
    name="get_organization",
    summary="Get an organization",
    action=actions.GET_ORGANIZATION,
)


organizations.update(
    OrganizationUpdate,
    _update,
    name="update_organization",
    summary="Rename, describe or move an organization (no cycles)",
    action=actions.UPDATE_ORGANIZATION,
)
organizations.delete(
    OrganizationService.delete_organization,
    name="delete_organization",
    summary="Delete an organization (refused while it has children, users or groups)",
    action=actions.DELETE_ORGANIZATION,
)
