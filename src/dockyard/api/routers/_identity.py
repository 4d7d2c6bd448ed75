"""What the identity routers share: the caller, RAM resource names, paths."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Path

from dockyard.api.context import Guard
from dockyard.services.identity import AggregateService, Caller

#: A name in a path: no control characters (they reach no row, and PostgreSQL refuses NUL).
Name = Annotated[str, Path(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")]
OrganizationId = Annotated[str, Path(min_length=1, max_length=64, description="A UUID")]

_Service = TypeVar("_Service", bound=AggregateService)


def caller(guard: Guard) -> Caller:
    """The caller of this request, for the service's sharing-scope checks and audit rows."""
    return Caller.of(guard.principal, guard.source_ip)


async def require(service: _Service, guard: Guard, path: str) -> _Service:
    """Authorize the route's action on ``acs:ram::$account:$path`` (``*``: list/create)."""
    guard.require(await service.ram_arn(path))
    return service
