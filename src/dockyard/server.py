"""The ASGI application each HTTP worker runs: registry, management API, health checks.

Upkeep (upload purge, audit retention) runs as periodic jobs in the background workers
(``dockyard.background``), once per deployment.
"""

from __future__ import annotations

import os
import time

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import logging as dlogging
from dockyard.bootstrap import Container, build
from dockyard.errors import DockyardError
from dockyard.host_guard import HostHeaderGuard
from dockyard.metrics.exposition import mark_this_worker_dead
from dockyard.metrics.middleware import MetricsMiddleware
from dockyard.proxy import ProxyHeadersMiddleware, parse_networks
from dockyard.settings import Settings
from dockyard.supervisor import WORKER_SETTINGS_ENV
from dockyard.unread_body import UnreadBodyGuard

log = structlog.get_logger(__name__)


class DockyardApp:
    def __init__(self, container: Container) -> None:
        self.container = container
        # Decided once: with access logging off, requests pay nothing for it.
        access_log = container.settings.log_level.lower() == "debug"
        # Every request is counted and timed (by route class), inside the trusted-proxy
        # middleware: /metrics is guarded with the client address the proxies reported.
        self._handle = MetricsMiddleware(self._logged if access_log else self._route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        await self._handle(scope, receive, send)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """At debug level, one access-log line per request (never headers or bodies)."""
        status = 0
        started = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._route(scope, receive, capture)
        finally:
            client = scope.get("client")
            log.debug(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
            )

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path.startswith("/v2") or path == "/auth/token":
            await self.container.registry(scope, receive, send)
        elif path == "/api" or path.startswith("/api/"):
            await self.container.api(scope, receive, send)
        elif path == "/healthz":
            await _json(send, 200, {"status": "ok"})
        elif path == "/readyz":
            await self._ready(send)
        elif path == "/auth/jwks.json":
            await _json(send, 200, self.container.tokens.public_jwks())
        elif path == "/metrics" and self.container.metrics is not None:
            await self.container.metrics(scope, receive, send)
        elif (path == "/console" or path.startswith("/console/")) and self.container.console:
            await self.container.console(scope, receive, send)
        else:
            await _json(
                send, 404, {"errors": [{"code": "NOT_FOUND", "message": f"nothing at {path}"}]}
            )

    async def _ready(self, send: Send) -> None:
        try:
            await self.container.check_ready()
        except (DockyardError, OSError, Exception) as exc:
            await _json(send, 503, {"status": "unavailable", "reason": str(exc)})
            return
        await _json(send, 200, {"status": "ready"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.container.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.container.stop()
                mark_this_worker_dead()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _json(send: Send, status: int, body: object) -> None:
    data = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def create_app(settings: Settings) -> ASGIApp:
    app: ASGIApp = DockyardApp(build(settings))
    if settings.trusted_proxies:
        app = ProxyHeadersMiddleware(app, parse_networks(settings.trusted_proxies))
    # It judges the Host the client sent, before any proxy header rewrites it.
    app = HostHeaderGuard(app)
    # Outermost: every answer, the guard's too, may go out before the request body is read.
    return UnreadBodyGuard(app)


def worker_app() -> ASGIApp:
    """Granian factory: each worker rebuilds the settings the parent resolved."""
    settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS_ENV])
    dlogging.configure(settings.log_level)
    return create_app(settings)
