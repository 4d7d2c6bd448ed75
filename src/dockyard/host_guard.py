"""Refuse HTTP/1.1 requests without exactly one non-empty ``Host`` (RFC 9112 §3.2).

Granian already refuses the message-framing attacks (conflicting or list-valued
``Content-Length``; ``Content-Length`` beside ``Transfer-Encoding`` is dropped, the body
read as chunked and the connection closed), but it hands the application HTTP/1.1 requests
with no ``Host`` (as an empty one) or with several. Routing, token realms and upload
``Location`` headers are built from ``Host``, so such a request is answered here, before
the application sees it. HTTP/1.0 needs no ``Host``; HTTP/2 carries ``:authority``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b"bad request: an HTTP/1.1 request needs exactly one non-empty Host header\n"


class HostHeaderGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["http_version"] == "1.1" and not _one_host(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(_BODY)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)


def _one_host(scope: Scope) -> bool:
    # A plain loop: every request passes here, and it builds no list.
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            if host is not None:
                return False
            host = value
    return host is not None and bool(host.strip())
