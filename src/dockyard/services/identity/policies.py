"""Policies: documents checked when written; built-in policies are neither modified nor
deleted. And the "why" of a decision: which policy statement decided it for a user."""

from __future__ import annotations

from typing import Any, Unpack

from dockyard.errors import AlreadyExistsError, InvalidInputError
from dockyard.metadata.models import Policy, RolePolicy
from dockyard.policy.engine import BUILTIN_POLICIES
from dockyard.services.identity.changes import PolicyChange
from dockyard.services.identity.peers import Page, PageRequest, Resource, authorize, load_principal
from dockyard.services.identity.rules import (
    check_description,
    check_policy_name,
    check_sharing,
    check_sharing_scope,
    parse_policy_document,
)
from dockyard.services.identity.store import POLICY, USER, AggregateService, find
from dockyard.services.identity.views import Caller, PolicyView, Simulation


class PolicyService(AggregateService):
    async def create_policy(
        self,
        caller: Caller,
        name: str,
        document: Any,
        *,
        description: str = "",
        sharing_scope: str = "global",
    ) -> PolicyView:
        check_policy_name(name)
        check_description(description)
        check_sharing_scope(sharing_scope)
        parse_policy_document(name, document)
        async with self._store.write(caller) as unit:
            if name in BUILTIN_POLICIES:
                raise AlreadyExistsError(f"policy {name} already exists")
            await unit.free(POLICY, name)
            row = Policy(
                name=name,
                description=description,
                document=document,
                **await unit.owned_by(sharing_scope),
            )
            return await unit.created(
                POLICY, row, "ram:CreatePolicy", name, sharingScope=row.sharing_scope
            )

    async def list_policies(self, page: PageRequest) -> Page[PolicyView]:
        return await self._store.page(page, POLICY)

    async def get_policy(self, name: str) -> PolicyView:
        return await self._store.view(POLICY, name)

    async def update_policy(
        self,
        caller: Caller,
        name: str,
        if_match: str | None = None,
        **changes: Unpack[PolicyChange],
    ) -> PolicyView:
        check_sharing(changes)
        if changes.get("document") is not None:
            parse_policy_document(name, changes["document"])
        return await self._store.update(
            caller, POLICY, name, "ram:UpdatePolicy", if_match, **changes
        )

    async def delete_policy(self, caller: Caller, name: str) -> None:
        await self._store.delete(caller, POLICY, name, "ram:DeletePolicy", (RolePolicy,))

    async def simulate(self, username: str, action: str, resource: str) -> Simulation:
        """What ``authorize`` decides for the user, and which policy statement decided."""
        if not action or len(action) > 128:
            raise InvalidInputError("action must be 1-128 characters, e.g. cr:PullRepository")
        if not resource or len(resource) > 1024:
            raise InvalidInputError("resource must be 1-1024 characters: an ARN or '*'")
        async with self._store.read() as (session, account):
            user = await find(session, account, USER, username)
            principal = await load_principal(session, user, account.arn_id)
        return Simulation.of(authorize(principal, action, Resource(resource)))
