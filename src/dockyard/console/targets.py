"""The repository a console page names, found and authorized the same way on every page
under ``…/repositories/{repository}``."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.console.pages import PageContext
from dockyard.services.access import InstanceRef, actions


@dataclass(frozen=True, slots=True)
class Target:
    """The repository a page names, once the visitor's action on it is allowed."""

    instance: InstanceRef
    namespace: str
    name: str
    #: Its ARN (the audit rows of changes name it).
    resource: str


async def repository_target(context: PageContext, action: str) -> Target:
    ref = await context.svc.tenancy.instance_ref(context.param("instance_id"))
    namespace, name = context.param("namespace"), context.param("repository")
    resource = actions.repository_arn(ref, namespace, name)
    await context.user.require(context.svc.audit, action, resource)
    return Target(ref, namespace, name, resource)
