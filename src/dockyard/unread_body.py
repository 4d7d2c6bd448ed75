"""Keep a client's connection usable when an answer goes out before its request body is read.

Handlers answer some requests without reading the body: a refused credential, a malformed
digest on an upload PUT, an unknown path. Granian (hyper) then ends the connection after
the answer, and when the body had not fully arrived yet it does so without a
``Connection: close``; a client that pools keep-alive connections sends its next request
into a closed socket ("server disconnected without sending a response").

So, as RFC 9110 §10.1.1 asks of a server answering before the whole request content, the
answer says what happens to the connection: the rest of a small body is read and dropped
first (the connection stays reusable), and a larger body, or one the client holds back
until ``100 Continue``, gets ``Connection: close``.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The most unread request body drained (and dropped) to keep a connection reusable; a
#: larger rest closes the connection instead, so a refused layer is never read whole.
DRAIN_LIMIT_BYTES = 1024 * 1024

#: The request headers that say whether a body follows, and how.
_FRAMING_HEADERS = frozenset((b"content-length", b"transfer-encoding", b"expect"))


class UnreadBodyGuard:
    """ASGI middleware: requests without a body (and other scopes) pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = _RequestBody.of(scope, receive) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return

        async def answer(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and (b"connection", b"close") not in message["headers"]
                and not await body.drain()
            ):
                message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
            await send(message)

        await self.app(scope, body.receive, answer)


class _RequestBody:
    """One request's body as the application reads it, and the rest when it did not."""

    def __init__(self, receive: Receive, declared: int | None, expect_continue: bool) -> None:
        self._receive = receive
        #: Content-Length; None: chunked.
        self._declared = declared
        self._expect_continue = expect_continue
        self._received = 0
        self._complete = False
        #: Starlette's streaming responses listen for a disconnect while the answer goes out,
        #: so draining may read beside them: one reader at a time.
        self._reading = asyncio.Lock()

    @classmethod
    def of(cls, scope: Scope, receive: Receive) -> _RequestBody | None:
        """None when the request carries no body."""
        declared: int | None = 0
        chunked = expect_continue = False
        for name, value in scope["headers"]:
            if name not in _FRAMING_HEADERS:  # one set lookup for most headers of most requests
                continue
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"expect":
                expect_continue = value.lower() == b"100-continue"
        if chunked:
            declared = None  # Granian reads a body with both headers as chunked
        elif declared == 0:
            return None
        return cls(receive, declared, expect_continue)

    async def receive(self) -> Message:
        async with self._reading:
            return await self._next()

    async def _next(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self._complete = True
        return message

    async def drain(self) -> bool:
        """Read and drop the unread rest of the body; False: the connection must close."""
        if self._complete:
            return True
        if self._expect_continue and self._received == 0:
            return False  # reading would ask the client for the body only to drop it
        limit = self._received + DRAIN_LIMIT_BYTES
        if self._declared is not None and self._declared > limit:
            return False
        while True:
            async with self._reading:
                if self._complete:
                    return True
                if self._received > limit:
                    return False
                await self._next()
