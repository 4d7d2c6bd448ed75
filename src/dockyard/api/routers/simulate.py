"""The "why": what ``authorize`` decides for a user, and which statement decided."""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.context import Authz, Services
from dockyard.api.routers._identity import require
from dockyard.api.routers._routes import route
from dockyard.api.schemas.identity import SimulateOut, SimulateRequest

router = APIRouter(prefix="/api/v1/authorization", tags=["authorization"])


@route(
    router,
    "POST",
    "/simulate",
    actions.SIMULATE_POLICY,
    "Explain whether a user may perform an action on a resource, and why",
    response_model=SimulateOut,
)
async def simulate(body: SimulateRequest, svc: Services, guard: Authz) -> SimulateOut:
    service = await require(svc.identity.policies, guard, f"user/{body.username}")
    return SimulateOut.model_validate(
        await service.simulate(body.username, body.action, body.resource)
    )
