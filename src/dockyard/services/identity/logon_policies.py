"""Logon policies: when and from where a user may sign in to the console. Users of a
deleted one fall back to the default policy (any time, any address)."""

from __future__ import annotations

from typing import Any, Unpack

from dockyard.metadata.models import LogonPolicy
from dockyard.metadata.queries import identity as q
from dockyard.services.identity.changes import LogonChange
from dockyard.services.identity.peers import Page, PageRequest, validate_logon_policy
from dockyard.services.identity.rules import check_description, check_logon_name
from dockyard.services.identity.store import LOGON_POLICY, AggregateService
from dockyard.services.identity.views import Caller, LogonPolicyView


class LogonPolicyService(AggregateService):
    async def create_logon_policy(
        self,
        caller: Caller,
        name: str,
        *,
        description: str = "",
        time_windows: Any = (),
        cidrs: Any = (),
    ) -> LogonPolicyView:
        check_logon_name(name)
        check_description(description)
        windows, networks = validate_logon_policy(list(time_windows), list(cidrs))
        async with self._store.write(caller) as unit:
            await unit.free(LOGON_POLICY, name)
            row = LogonPolicy(
                name=name, description=description, time_windows=windows, cidrs=networks
            )
            return await unit.created(LOGON_POLICY, row, "ram:CreateLogonPolicy", name)

    async def list_logon_policies(self, page: PageRequest) -> Page[LogonPolicyView]:
        return await self._store.page(page, LOGON_POLICY)

    async def get_logon_policy(self, name: str) -> LogonPolicyView:
        return await self._store.view(LOGON_POLICY, name)

    async def update_logon_policy(
        self, caller: Caller, name: str, if_match: str | None = None, **changes: Unpack[LogonChange]
    ) -> LogonPolicyView:
        description = changes.get("description")
        check_description(description)
        windows, cidrs = changes.get("time_windows"), changes.get("cidrs")
        async with self._store.edit(caller, LOGON_POLICY, name, if_match) as edit:
            row = edit.row
            time_windows, networks = validate_logon_policy(
                list(row.time_windows if windows is None else windows),
                list(row.cidrs if cidrs is None else cidrs),
            )
            values = await edit.changes(description=description)
            values.update(time_windows=time_windows, cidrs=networks)
            return await edit.save("ram:UpdateLogonPolicy", values, audit_fields=False)

    async def delete_logon_policy(self, caller: Caller, name: str) -> None:
        """Its users fall back to the default policy (any time, any address)."""
        await self._store.delete(
            caller, LOGON_POLICY, name, "ram:DeleteLogonPolicy", clear=q.clear_logon_policy
        )
