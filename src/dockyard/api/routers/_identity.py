"""What the identity routers share: the service, the caller, RAM resource names, paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from dockyard.api.context import ApiServices, Guard
from dockyard.services.identity import Caller, IdentityService

#: A name in a path: no control characters (they reach no row, and PostgreSQL refuses NUL).
Name = Annotated[str, Path(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")]
OrganizationId = Annotated[str, Path(min_length=1, max_length=64, description="A UUID")]


def identity(svc: ApiServices) -> IdentityService:
    if svc.identity is None:
        raise RuntimeError("the identity service is not configured")
    return svc.identity


def caller(guard: Guard) -> Caller:
    """The caller of this request, for the service's sharing-scope checks and audit rows."""
    return Caller.of(guard.principal, guard.source_ip)


async def require(svc: ApiServices, guard: Guard, path: str) -> IdentityService:
    """Authorize the route's action on ``acs:ram::$account:$path`` (``*``: list/create)."""
    service = identity(svc)
    guard.require(await service.ram_arn(path))
    return service
