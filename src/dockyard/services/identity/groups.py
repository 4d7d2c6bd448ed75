"""User groups: created inside an existing organization; members and roles are links."""

from __future__ import annotations

from typing import Unpack

from dockyard.metadata.models import GroupMember, GroupRole, ResourceSetGroup, UserGroup
from dockyard.services.identity.changes import Placement
from dockyard.services.identity.peers import Page, PageRequest
from dockyard.services.identity.rules import (
    check_description,
    check_group_name,
    check_placement,
    parse_organization_id,
)
from dockyard.services.identity.store import GROUP, ROLE, USER, AggregateService, Link
from dockyard.services.identity.views import Caller, GroupView

GROUP_MEMBER: Link[UserGroup, GroupView] = Link(
    GroupMember,
    GROUP,
    USER,
    "ram:AddUserToGroup",
    "ram:RemoveUserFromGroup",
    "user {other} is not a member of group {owner}",
    keeps_administrator=True,
)
GROUP_ROLE: Link[UserGroup, GroupView] = Link(
    GroupRole,
    GROUP,
    ROLE,
    "ram:AttachRoleToGroup",
    "ram:DetachRoleFromGroup",
    "group {owner} does not hold role {other}",
    scoped=True,
    keeps_administrator=True,
)


class GroupService(AggregateService):
    async def create_group(
        self, caller: Caller, name: str, organization_id: str, description: str = ""
    ) -> GroupView:
        check_group_name(name)
        check_description(description)
        async with self._store.write(caller) as unit:
            org = await unit.organization(organization_id, "organizationId")
            await unit.free(GROUP, name)
            row = UserGroup(organization_id=org.id, name=name, description=description)
            return await unit.created(
                GROUP, row, "ram:CreateGroup", name, organizationId=str(org.id)
            )

    async def list_groups(
        self, page: PageRequest, organization_id: str | None = None
    ) -> Page[GroupView]:
        org = parse_organization_id(organization_id, "organizationId") if organization_id else None
        return await self._store.page(page, GROUP, organization_id=org)

    async def get_group(self, name: str) -> GroupView:
        return await self._store.view(GROUP, name)

    async def update_group(
        self, caller: Caller, name: str, if_match: str | None = None, **changes: Unpack[Placement]
    ) -> GroupView:
        check_placement(check_group_name, changes)
        return await self._store.update(caller, GROUP, name, "ram:UpdateGroup", if_match, **changes)

    async def delete_group(self, caller: Caller, name: str) -> None:
        await self._store.delete(
            caller,
            GROUP,
            name,
            "ram:DeleteGroup",
            (GroupMember, GroupRole, ResourceSetGroup),
            keeps_administrator=True,
        )

    async def add_group_member(self, caller: Caller, name: str, username: str) -> GroupView:
        return await self._store.link(caller, GROUP_MEMBER, name, username)

    async def remove_group_member(self, caller: Caller, name: str, username: str) -> GroupView:
        return await self._store.unlink(caller, GROUP_MEMBER, name, username)

    async def attach_role_to_group(self, caller: Caller, name: str, role_name: str) -> GroupView:
        return await self._store.link(caller, GROUP_ROLE, name, role_name)

    async def detach_role_from_group(self, caller: Caller, name: str, role_name: str) -> GroupView:
        return await self._store.unlink(caller, GROUP_ROLE, name, role_name)
