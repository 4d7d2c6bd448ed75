"""Organizations: a tree under one root. Every one but the root has an existing parent,
re-parenting never makes a cycle, and one still holding anything is not deleted."""

from __future__ import annotations

import uuid
from typing import Any

from dockyard.errors import ConflictError, InvalidInputError
from dockyard.metadata.models import Organization
from dockyard.metadata.queries import identity as q
from dockyard.services.identity.peers import Page, PageRequest, check_etag
from dockyard.services.identity.rules import (
    check_description,
    check_organization_name,
    parse_organization_id,
)
from dockyard.services.identity.store import ORGANIZATION, AggregateService
from dockyard.services.identity.views import Caller, OrganizationView, organization_views, view_of


class OrganizationService(AggregateService):
    async def create_organization(
        self, caller: Caller, name: str, parent_id: str, description: str = ""
    ) -> OrganizationView:
        check_organization_name(name)
        check_description(description)
        async with self._store.write() as (session, account):
            parent = await self._store.organization(session, account, parent_id, "parentId")
            await self._store.free(session, account, ORGANIZATION, name)
            row = Organization(
                account_id=account.id, parent_id=parent.id, name=name, description=description
            )
            return await self._store.created(
                session,
                account,
                caller,
                ORGANIZATION,
                row,
                "ram:CreateOrganization",
                name=name,
                parentId=str(parent.id),
            )

    async def list_organizations(
        self, page: PageRequest, parent_id: str | None = None
    ) -> Page[OrganizationView]:
        parent = parse_organization_id(parent_id, "parentId") if parent_id else None
        return await self._store.page(page, ORGANIZATION, parent_id=parent)

    async def get_organization(self, organization_id: str) -> OrganizationView:
        async with self._store.read() as (session, account):
            row = await self._store.organization(session, account, organization_id, "organization")
            return await view_of(organization_views, session, row)

    async def update_organization(
        self,
        caller: Caller,
        organization_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        parent_id: str | None = None,
        if_match: str | None = None,
    ) -> OrganizationView:
        if name is not None:
            check_organization_name(name)
        check_description(description)
        async with self._store.write() as (session, account):
            row = await self._store.organization(session, account, organization_id, "organization")
            check_etag((await view_of(organization_views, session, row)).etag, if_match)
            values: dict[str, Any] = {}
            await self._store.rename(session, account, ORGANIZATION, row, name, values)
            if description is not None:
                values["description"] = description
            if parent_id is not None:
                parent = await self._store.organization(session, account, parent_id, "parentId")
                if row.parent_id is None:
                    raise InvalidInputError("parentId: the root organization has no parent")
                tree = await q.organization_tree(session, account.id)
                node: uuid.UUID | None = parent.id
                while node is not None:
                    if node == row.id:
                        raise InvalidInputError(
                            f"parentId: organization {parent.name} is {row.name} itself or "
                            f"one of its subordinates; the tree may not have a cycle"
                        )
                    node = tree.get(node)
                values["parent_id"] = parent.id
            for key, value in values.items():
                setattr(row, key, value)
            await q.flush(session)
            await self._store.changed(
                session,
                account,
                caller,
                "ram:UpdateOrganization",
                f"organization/{row.id}",
                fields=sorted(values),
            )
            return await view_of(organization_views, session, row)

    async def delete_organization(self, caller: Caller, organization_id: str) -> None:
        async with self._store.write() as (session, account):
            row = await self._store.organization(session, account, organization_id, "organization")
            if row.parent_id is None:
                raise ConflictError("the root organization cannot be deleted")
            usage = await q.organization_usage(session, row.id)
            held = [f"{n} {what}" for what, n in usage.items() if n]
            if held:
                raise ConflictError(
                    f"organization {row.name} still has {', '.join(held)}; "
                    "move or delete them first (roles, policies, resource sets, namespaces "
                    "and repositories count when they belong to it)"
                )
            await q.delete_row(session, row)
            await self._store.changed(
                session,
                account,
                caller,
                "ram:DeleteOrganization",
                f"organization/{row.id}",
                name=row.name,
            )
