"""Who a registry change is audited as: the caller's name, user id and source address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from dockyard.registry.auth import Caller
from dockyard.registry.context import Call, Target
from dockyard.services.audit import Actor


def actor_of(call: Call, caller: Caller) -> Actor:
    user_id = caller.claims.user_id if caller.claims is not None else None
    if user_id is None and caller.principal is not None:
        user_id = caller.principal.user_id
    client = call.request.client
    return Actor(caller.name or "anonymous", user_id, client.host if client else "")


async def accepted_delete(
    call: Call, target: Target, delete: Callable[..., Awaitable[None]], param: str
) -> Response:
    """``delete`` (a content service deletion) of the path parameter ``param`` in the target
    repository, audited as the caller: 202 with an empty body."""
    await delete(
        target.repo,
        call.params[param],
        actor=actor_of(call, target.caller),
        resource=call.instance.repository_arn(str(target.name)),
    )
    return Response(status_code=202, headers={"Content-Length": "0"})
