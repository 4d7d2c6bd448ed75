"""Who a registry change is audited as: the caller's name, user id and source address."""

from __future__ import annotations

from dockyard.registry.auth import Caller
from dockyard.registry.context import Call
from dockyard.services.audit import Actor


def actor_of(call: Call, caller: Caller) -> Actor:
    user_id = caller.claims.user_id if caller.claims is not None else None
    if user_id is None and caller.principal is not None:
        user_id = caller.principal.user_id
    client = call.request.client
    return Actor(caller.name or "anonymous", user_id, client.host if client else "")
