"""Organizations: a tree under one root. Every one but the root has an existing parent,
re-parenting never makes a cycle, and one still holding anything is not deleted."""

from __future__ import annotations

import uuid
from typing import Any, Unpack

from dockyard.errors import ConflictError, InvalidInputError
from dockyard.metadata.models import Organization
from dockyard.metadata.queries import identity as q
from dockyard.services.identity.changes import OrganizationChange
from dockyard.services.identity.peers import Page, PageRequest, check_etag
from dockyard.services.identity.rules import (
    check_description,
    check_organization_name,
    parse_organization_id,
)
from dockyard.services.identity.store import ORGANIZATION, AggregateService, Unit, find_organization
from dockyard.services.identity.views import Caller, OrganizationView, organization_views, view_of


class OrganizationService(AggregateService):
    async def create_organization(
        self, caller: Caller, name: str, parent_id: str, description: str = ""
    ) -> OrganizationView:
        check_organization_name(name)
        check_description(description)
        async with self._store.write(caller) as unit:
            parent = await unit.organization(parent_id, "parentId")
            await unit.free(ORGANIZATION, name)
            row = Organization(parent_id=parent.id, name=name, description=description)
            return await unit.created(
                ORGANIZATION, row, "ram:CreateOrganization", name=name, parentId=str(parent.id)
            )

    async def list_organizations(
        self, page: PageRequest, parent_id: str | None = None
    ) -> Page[OrganizationView]:
        parent = parse_organization_id(parent_id, "parentId") if parent_id else None
        return await self._store.page(page, ORGANIZATION, parent_id=parent)

    async def get_organization(self, organization_id: str) -> OrganizationView:
        async with self._store.read() as (session, account):
            row = await find_organization(session, account, organization_id, "organization")
            return await view_of(organization_views, session, row)

    async def update_organization(
        self,
        caller: Caller,
        organization_id: str,
        if_match: str | None = None,
        **changes: Unpack[OrganizationChange],
    ) -> OrganizationView:
        name, description = changes.get("name"), changes.get("description")
        if name is not None:
            check_organization_name(name)
        check_description(description)
        async with self._store.write(caller) as unit:
            row = await unit.organization(organization_id, "organization")
            check_etag((await unit.view(ORGANIZATION, row)).etag, if_match)
            values: dict[str, Any] = {}
            await unit.rename(ORGANIZATION, row, name, values)
            if description is not None:
                values["description"] = description
            parent_id = changes.get("parent_id")
            if parent_id is not None:
                values["parent_id"] = await self._new_parent(unit, row, parent_id)
            for key, value in values.items():
                setattr(row, key, value)
            await q.flush(unit.session)
            await unit.changed(
                "ram:UpdateOrganization", f"organization/{row.id}", fields=sorted(values)
            )
            return await unit.view(ORGANIZATION, row)

    @staticmethod
    async def _new_parent(unit: Unit, row: Organization, parent_id: str) -> uuid.UUID:
        """The id of a new parent: not for the root, and never one of the row's subordinates."""
        parent = await unit.organization(parent_id, "parentId")
        if row.parent_id is None:
            raise InvalidInputError("parentId: the root organization has no parent")
        tree = await q.organization_tree(unit.session, unit.account.id)
        node: uuid.UUID | None = parent.id
        while node is not None:
            if node == row.id:
                raise InvalidInputError(
                    f"parentId: organization {parent.name} is {row.name} itself or "
                    f"one of its subordinates; the tree may not have a cycle"
                )
            node = tree.get(node)
        return parent.id

    async def delete_organization(self, caller: Caller, organization_id: str) -> None:
        async with self._store.write(caller) as unit:
            row = await unit.organization(organization_id, "organization")
            if row.parent_id is None:
                raise ConflictError("the root organization cannot be deleted")
            usage = await q.organization_usage(unit.session, row.id)
            held = [f"{n} {what}" for what, n in usage.items() if n]
            if held:
                raise ConflictError(
                    f"organization {row.name} still has {', '.join(held)}; "
                    "move or delete them first (roles, policies, resource sets, namespaces "
                    "and repositories count when they belong to it)"
                )
            await q.delete_row(unit.session, row)
            await unit.changed("ram:DeleteOrganization", f"organization/{row.id}", name=row.name)
