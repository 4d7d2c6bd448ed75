"""The management API's ASGI app: FastAPI under ``/api/v1``, one error shape, request ids."""

from __future__ import annotations

import re
import uuid

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import __version__
from dockyard.api import docs, errors
from dockyard.api.context import ApiServices
from dockyard.api.routers import (
    artifacts,
    audit,
    auth,
    credentials,
    gc,
    groups,
    instances,
    jobs,
    logon_policies,
    namespaces,
    organizations,
    policies,
    replication,
    repositories,
    resource_sets,
    retention,
    roles,
    scan_policies,
    scanners,
    scans,
    signature_policies,
    signing,
    simulate,
    triggers,
    usage,
    users,
    vulndb,
)

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (a well-formed incoming ``X-Request-Id`` is kept), bind it
    to the log context, and echo it in the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            await self.app(scope, receive, send_with_id)


def create_api(services: ApiServices) -> ASGIApp:
    app = FastAPI(
        title="Dockyard management API",
        version=__version__,
        description=(
            "Instances, namespaces, repositories, tags, manifests and layers. Every operation "
            "names its policy action in `x-dockyard-action`. Errors are always "
            '`{"code", "message", "requestId"}`.'
        ),
        openapi_url=docs.OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        separate_input_output_schemas=True,
    )
    app.state.services = services
    errors.install(app)
    for module in (auth, instances, namespaces, repositories, artifacts, triggers, retention):
        app.include_router(module.router)
    app.include_router(audit.router)
    identity_routers = (organizations, users, groups, resource_sets, roles, policies)
    for module in (*identity_routers, logon_policies, simulate):
        app.include_router(module.router)
    app.include_router(credentials.router)
    app.include_router(jobs.router)
    app.include_router(usage.router)
    app.include_router(gc.router)
    app.include_router(signing.router)
    app.include_router(signature_policies.router)
    app.include_router(replication.router)
    app.include_router(vulndb.router)
    app.include_router(scans.router)
    app.include_router(scan_policies.router)
    app.include_router(scanners.router)
    app.include_router(docs.router)
    return RequestIdMiddleware(app)
