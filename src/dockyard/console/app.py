"""The console's ASGI app: its pages, its static files, and the security headers on every
answer (``security``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.console import (
    audit,
    credentials,
    edits,
    gc,
    groups,
    instances,
    jobs,
    logon_policies,
    organizations,
    picker,
    policies,
    remotes,
    removals,
    replication,
    repositories,
    resource_sets,
    retention,
    roles,
    scanning,
    signin,
    signing,
    triggers,
    usage,
    users,
    vulnerabilities,
)
from dockyard.console.context import ConsoleServices
from dockyard.console.pages import not_found
from dockyard.console.security import SECURITY_HEADERS

_HEADERS = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """The CSP, no framing, no sniffing and no caching on every console answer (pages,
    redirects, errors and static files alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in _HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_console(services: ConsoleServices) -> ASGIApp:
    app = Starlette(
        routes=[
            *signin.routes(services),
            *instances.routes(services),
            *repositories.routes(services),
            *credentials.routes(services),
            *users.routes(services),
            *audit.routes(services),
            *picker.routes(services),
            *policies.routes(services),
            *roles.routes(services),
            *logon_policies.routes(services),
            *organizations.routes(services),
            *groups.routes(services),
            *resource_sets.routes(services),
            *triggers.routes(services),
            *retention.routes(services),
            *gc.routes(services),
            *removals.routes(services),
            *replication.routes(services),
            *scanning.routes(services),
            *edits.routes(services),
            *jobs.routes(services),
            *remotes.routes(services),
            *signing.routes(services),
            *vulnerabilities.routes(services),
            *usage.routes(services),
            Mount(
                "/console/static",
                StaticFiles(packages=[("dockyard.console", "static")]),
                name="static",
            ),
        ],
        exception_handlers={404: not_found},
    )
    return SecurityHeaders(app)
