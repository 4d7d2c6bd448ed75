"""Resource sets: namespaces and repositories grouped for policies; a namespace or
repository belongs to at most one set, and groups are linked to sets."""

from __future__ import annotations

from typing import Any, Unpack

from dockyard.errors import ConflictError, NotFoundError
from dockyard.metadata.models import ResourceSet, ResourceSetGroup
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.services.identity.changes import Placement
from dockyard.services.identity.peers import Page, PageRequest
from dockyard.services.identity.rules import check_description, check_placement, check_set_name
from dockyard.services.identity.store import GROUP, RESOURCE_SET, AggregateService, Link
from dockyard.services.identity.views import Caller, ResourceSetView

SET_GROUP: Link[ResourceSet, ResourceSetView] = Link(
    ResourceSetGroup,
    RESOURCE_SET,
    GROUP,
    "ram:LinkResourceSetToGroup",
    "ram:UnlinkResourceSetFromGroup",
    "group {other} is not linked to resource set {owner}",
)


class ResourceSetService(AggregateService):
    async def create_resource_set(
        self, caller: Caller, name: str, description: str = "", organization_id: str | None = None
    ) -> ResourceSetView:
        check_set_name(name)
        check_description(description)
        async with self._store.write(caller) as unit:
            org_id = await unit.caller_organization()
            if organization_id is not None:
                org_id = (await unit.organization(organization_id, "organizationId")).id
            await unit.free(RESOURCE_SET, name)
            row = ResourceSet(organization_id=org_id, name=name, description=description)
            return await unit.created(RESOURCE_SET, row, "ram:CreateResourceSet", name)

    async def list_resource_sets(self, page: PageRequest) -> Page[ResourceSetView]:
        return await self._store.page(page, RESOURCE_SET)

    async def get_resource_set(self, name: str) -> ResourceSetView:
        return await self._store.view(RESOURCE_SET, name)

    async def update_resource_set(
        self, caller: Caller, name: str, if_match: str | None = None, **changes: Unpack[Placement]
    ) -> ResourceSetView:
        check_placement(check_set_name, changes)
        action = "ram:UpdateResourceSet"
        return await self._store.update(caller, RESOURCE_SET, name, action, if_match, **changes)

    async def delete_resource_set(self, caller: Caller, name: str) -> None:
        await self._store.delete(
            caller,
            RESOURCE_SET,
            name,
            "ram:DeleteResourceSet",
            (ResourceSetGroup,),
            clear=q.clear_resource_set,
        )

    async def link_group(
        self, caller: Caller, name: str, group_name: str, *, link: bool
    ) -> ResourceSetView:
        if link:
            return await self._store.link(caller, SET_GROUP, name, group_name)
        return await self._store.unlink(caller, SET_GROUP, name, group_name)

    async def set_member(
        self,
        caller: Caller,
        name: str,
        instance_id: str,
        namespace: str,
        repository: str | None = None,
        *,
        add: bool,
    ) -> ResourceSetView:
        """Put a namespace (``repository`` None) or a repository into the set, or take it out.

        A namespace or repository belongs to at most one resource set.
        """
        async with self._store.write(caller) as unit:
            session = unit.session
            row = await unit.get(RESOURCE_SET, name)
            target: Any
            if repository is None:
                what = f"namespace {namespace} of instance {instance_id}"
                target = await tq.find_namespace(session, instance_id, namespace)
            else:
                what = f"repository {namespace}/{repository} of instance {instance_id}"
                target = await tq.find_repository(session, instance_id, f"{namespace}/{repository}")
            if target is None:
                raise NotFoundError(f"{what} does not exist")
            if add:
                if target.resource_set_id not in (None, row.id):
                    other = await q.names_of(session, ResourceSet, [target.resource_set_id])
                    raise ConflictError(
                        f"{what} already belongs to resource set "
                        f"{other.get(target.resource_set_id, '?')}; remove it there first"
                    )
                changed = target.resource_set_id is None
                target.resource_set_id = row.id
            else:
                if target.resource_set_id != row.id:
                    raise NotFoundError(f"{what} is not in resource set {name}")
                changed = True
                target.resource_set_id = None
            if changed:
                await q.touch(session, row)
                await unit.changed(
                    "ram:AddResourceToResourceSet" if add else "ram:RemoveResourceFromResourceSet",
                    f"resourceset/{name}",
                    instanceId=instance_id,
                    namespace=namespace,
                    repository=repository,
                )
            return await unit.view(RESOURCE_SET, row)
