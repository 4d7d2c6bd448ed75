"""Roles: at most :data:`MAX_ROLES` in total (built-in ones count), each carrying at most
:data:`MAX_ROLE_POLICIES` policies; built-in roles are neither modified nor deleted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import LimitExceededError
from dockyard.metadata.models import GroupRole, Policy, Role, RolePolicy, UserRole
from dockyard.metadata.queries import identity as q
from dockyard.services.identity.changes import Sharing
from dockyard.services.identity.peers import Page, PageRequest
from dockyard.services.identity.rules import (
    MAX_ROLE_POLICIES,
    MAX_ROLES,
    check_description,
    check_role_name,
    check_sharing,
    check_sharing_scope,
)
from dockyard.services.identity.store import POLICY, ROLE, AggregateService, Link
from dockyard.services.identity.views import Caller, RoleView, role_views, view_of

ROLE_POLICY: Link[Role, RoleView] = Link(
    RolePolicy,
    ROLE,
    POLICY,
    "ram:AttachPolicyToRole",
    "ram:DetachPolicyFromRole",
    "role {owner} does not carry policy {other}",
    scoped=True,
)


class RoleService(AggregateService):
    async def create_role(
        self,
        caller: Caller,
        name: str,
        *,
        description: str = "",
        sharing_scope: str = "global",
        policies: Sequence[str] = (),
    ) -> RoleView:
        check_role_name(name)
        check_description(description)
        check_sharing_scope(sharing_scope)
        if len(set(policies)) > MAX_ROLE_POLICIES:
            raise LimitExceededError(f"a role carries at most {MAX_ROLE_POLICIES} policies")
        async with self._store.write(caller) as unit:
            await unit.free(ROLE, name)
            count = await q.count_roles(unit.session, unit.account.id)
            if count >= MAX_ROLES:
                raise LimitExceededError(
                    f"at most {MAX_ROLES} roles exist in total, built-in and custom; "
                    f"there are {count} already"
                )
            found = await unit.named(POLICY, policies, "policies")
            for policy in found:
                await unit.check_attach(policy)
            row = Role(name=name, description=description, **await unit.owned_by(sharing_scope))
            return await unit.created(
                ROLE,
                row,
                "ram:CreateRole",
                name,
                lambda role: [RolePolicy(role_id=role.id, policy_id=p.id) for p in found],
                sharingScope=row.sharing_scope,
                policies=sorted(p.name for p in found),
            )

    async def list_roles(self, page: PageRequest) -> Page[RoleView]:
        return await self._store.page(page, ROLE)

    async def get_role(self, name: str) -> RoleView:
        return await self._store.view(ROLE, name)

    async def update_role(
        self, caller: Caller, name: str, if_match: str | None = None, **changes: Unpack[Sharing]
    ) -> RoleView:
        check_sharing(changes)
        return await self._store.update(caller, ROLE, name, "ram:UpdateRole", if_match, **changes)

    async def delete_role(self, caller: Caller, name: str) -> None:
        await self._store.delete(
            caller, ROLE, name, "ram:DeleteRole", (UserRole, GroupRole, RolePolicy)
        )

    @staticmethod
    async def _room_for_policy(session: AsyncSession, row: Role, policy: Policy) -> bool:
        """Whether the role lacks the policy, refused when it carries the most already; the
        role's row lock makes the count and the insert one step."""
        await q.lock_role(session, row.id)
        current = await view_of(role_views, session, row)
        if policy.name in current.policies:
            return False
        if len(current.policies) >= MAX_ROLE_POLICIES:
            raise LimitExceededError(
                f"role {row.name} carries {len(current.policies)} policies already; "
                f"a role carries at most {MAX_ROLE_POLICIES}"
            )
        return True

    async def attach_policy(self, caller: Caller, name: str, policy_name: str) -> RoleView:
        return await self._store.link(caller, ROLE_POLICY, name, policy_name, self._room_for_policy)

    async def detach_policy(self, caller: Caller, name: str, policy_name: str) -> RoleView:
        return await self._store.unlink(caller, ROLE_POLICY, name, policy_name)
