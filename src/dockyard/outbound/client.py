"""An HTTP client for requests to destinations users choose (webhook deliveries, later
replication), connecting only to addresses the :class:`OutboundPolicy` admits.

httpcore rather than httpx: its connections take a network backend, and
:class:`_CheckedBackend` resolves each host itself, checks every address and connects to
the checked IP. Idle kept-alive connections wait in :class:`_IdleConnections`, one stack per
origin: httpcore's own pool matches every queued request against every connection on each
request and each response, which cost a worker delivering to one busy receiver more CPU
than the rest of a delivery.

TLS is started by httpcore on the checked connection with the URL's host name, so SNI and
certificate verification, like the ``Host`` header, stay on the name. httpcore never
follows redirects and reads no proxy settings from the environment (a proxy would make the
proxy's address the one checked).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from dockyard import __version__
from dockyard.outbound.policy import OutboundPolicy

USER_AGENT = f"Dockyard/{__version__}"

#: Connections open at once per client: enough for a worker delivering a few hundred
#: webhooks a second to a handful of receivers.
MAX_CONNECTIONS = 100
KEEPALIVE_SECONDS = 30.0


class OutboundRefused(Exception):
    """The policy refuses every address the host resolves to: final, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboundFailed(Exception):
    """No response: resolution, connection, TLS, timeout or protocol failure. ``retryable``
    says whether trying again later can help (a refused connection can; a certificate that
    does not verify for the host name, or a URL that is not HTTP, cannot)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    latency_ms: float
    #: The first ``max_response_bytes`` of the body, decoded lossily as UTF-8.
    body_excerpt: str
    #: The IP actually connected to (and checked).
    address: str


class OutboundClient:
    """POSTs to URLs users chose. Timeouts: ``connect_timeout`` bounds the name resolution
    and each connection attempt; ``total_timeout`` bounds the whole request, from the first
    lookup to the last byte read. At most ``max_response_bytes`` of a body are read: the
    connection is closed after them rather than drained."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 10.0,
        max_response_bytes: int = 4096,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context`` defaults to the system's trusted CAs (``SSL_CERT_FILE`` is
        honoured); tests pass one trusting their own CA."""
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self._connections = _IdleConnections(
            ssl_context or ssl.create_default_context(), _CheckedBackend(policy)
        )
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """The response, whatever its status (a 3xx is returned, not followed). Raises
        :class:`OutboundRefused` or :class:`OutboundFailed`; their reasons name the host,
        never the whole URL (its query may hold a token)."""
        _check_url(url)
        started = time.perf_counter()
        timeout = asyncio.timeout(self.total_timeout)
        try:
            async with timeout:
                status, excerpt, address = await self._exchange(url, body, headers)
        except TimeoutError:
            if not timeout.expired():
                raise
            raise OutboundFailed(
                f"no complete response within {self.total_timeout:g} s", retryable=True
            ) from None
        except httpcore.TimeoutException as exc:
            raise OutboundFailed(_timeout_reason(exc, self), retryable=True) from None
        except httpcore.ConnectError as exc:
            raise _connect_failure(exc) from None
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as exc:
            raise OutboundFailed(f"connection lost: {exc}", retryable=True) from None
        except httpcore.LocalProtocolError as exc:
            raise OutboundFailed(f"invalid request: {exc}", retryable=False) from None
        return OutboundResponse(
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            body_excerpt=excerpt.decode("utf-8", errors="replace"),
            address=address,
        )

    async def _exchange(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, str]:
        # Host comes from the URL; a caller's own would be believed.
        request_headers = [
            (k, v) for k, v in headers.items() if k.lower() not in ("host", "content-length")
        ]
        if not any(k.lower() == "user-agent" for k, _ in request_headers):
            request_headers.append(("User-Agent", USER_AGENT))
        request_headers += [
            ("Host", urlsplit(url).netloc.rpartition("@")[2]),
            ("Content-Length", str(len(body))),
        ]
        timeouts = {
            "connect": self.connect_timeout,
            "read": self.total_timeout,
            "write": self.total_timeout,
        }
        request = httpcore.Request(
            "POST", url, headers=request_headers, content=body, extensions={"timeout": timeouts}
        )
        async with self._slots:
            origin = request.url.origin
            connection = self._connections.take(origin)
            try:
                response = await connection.handle_async_request(request)
                try:
                    excerpt = await self._read_capped(response)
                    stream = response.extensions["network_stream"]
                    server_address = stream.get_extra_info("server_addr")
                finally:
                    await response.aclose()
            except BaseException:
                await connection.aclose()
                raise
            await self._connections.give_back(origin, connection)
        return response.status, excerpt, str(server_address[0])

    async def _read_capped(self, response: httpcore.Response) -> bytes:
        excerpt = bytearray()
        chunks = typing.cast(AsyncGenerator[bytes, None], response.aiter_stream())
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                excerpt += chunk[: self.max_response_bytes - len(excerpt)]
                if len(excerpt) >= self.max_response_bytes:
                    break
        return bytes(excerpt)

    async def aclose(self) -> None:
        await self._connections.aclose()


class _IdleConnections:
    """Kept-alive connections waiting for the next request to their origin, newest on top
    (the likeliest still open at the other end)."""

    def __init__(self, ssl_context: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend) -> None:
        self._ssl_context = ssl_context
        self._backend = backend
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}

    def take(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        """An idle connection to ``origin`` still usable, or a new one (it connects, through
        the checked backend, when the request is sent)."""
        stack = self._idle.get(_key(origin), [])
        while stack:
            connection = stack.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            self._closing(connection)
        return httpcore.AsyncHTTPConnection(
            origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=self._backend,
        )

    async def give_back(
        self, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        if connection.is_available():
            self._idle.setdefault(_key(origin), []).append(connection)
        else:
            await connection.aclose()

    def _closing(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Close a stale idle connection without making the request wait for it."""
        task = asyncio.get_running_loop().create_task(connection.aclose())
        task.add_done_callback(lambda done: done.exception())  # seen: no "never retrieved"

    async def aclose(self) -> None:
        stacks, self._idle = list(self._idle.values()), {}
        for stack in stacks:
            for connection in stack:
                await connection.aclose()


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy admits, trying them in the order
    the resolver gives; every connection, first or kept alive, went through here."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        refusals: list[str] = []
        failure: Exception | None = None
        for address in await _resolve(host, port, timeout):
            reason = self._policy.refusal(address, port)
            if reason is not None:
                refusals.append(reason)
                continue
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
                return _OneSendPerRequest(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        if failure is not None:
            raise failure
        reasons = "; ".join(refusals)
        raise OutboundRefused(reasons if _is_address(host) else f"{host}: {reasons}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _OneSendPerRequest(httpcore.AsyncNetworkStream):
    """Holds a request's writes until its response is read, so head and body leave in one
    send: httpcore writes them apart, and each send is a system call and, to a receiver
    on the same host, a wake-up of its process. Request bodies here are small (webhooks)."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._held = bytearray()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._held += buffer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        await self._send_held(timeout)
        return await self._inner.read(max_bytes, timeout)

    async def _send_held(self, timeout: float | None) -> None:  # noqa: ASYNC109
        if self._held:
            held, self._held = bytes(self._held), bytearray()
            await self._inner.write(held, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        await self._send_held(timeout)
        return _OneSendPerRequest(
            await self._inner.start_tls(ssl_context, server_hostname, timeout)
        )

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    """An origin as a dictionary key (httpcore's ``Origin`` is not hashable)."""
    return origin.scheme, origin.host, origin.port


async def _resolve(host: str, port: int, within: float | None) -> list[str]:
    """The host's addresses, each once, in the resolver's order (the loop's getaddrinfo, so
    a slow resolver blocks no other delivery)."""
    try:
        async with asyncio.timeout(within):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except TimeoutError:
        raise OutboundFailed(
            f"resolving {host} took longer than {within:g} s", retryable=True
        ) from None
    except OSError as exc:  # socket.gaierror: unknown name, or no DNS server reachable
        raise OutboundFailed(
            f"cannot resolve {host}: {exc.strerror or exc}", retryable=True
        ) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_url(url: str) -> None:
    """A URL httpcore cannot send to is a final failure, not a ``ValueError``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError as exc:
        raise OutboundFailed(f"invalid URL: {exc}", retryable=False) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundFailed("not an http:// or https:// URL with a host", retryable=False)


def _timeout_reason(exc: httpcore.TimeoutException, client: OutboundClient) -> str:
    if isinstance(exc, httpcore.ConnectTimeout):
        return f"no connection within {client.connect_timeout:g} s"
    return f"no complete response within {client.total_timeout:g} s"


def _connect_failure(exc: httpcore.ConnectError) -> OutboundFailed:
    """A certificate that does not verify is final; other connection failures may pass."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return OutboundFailed(
                f"TLS certificate not accepted: {cause.verify_message}", retryable=False
            )
        cause = cause.__cause__ or cause.__context__
    return OutboundFailed(f"cannot connect: {exc}", retryable=True)
