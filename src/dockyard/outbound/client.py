"""An HTTP client for requests to destinations users choose (webhook deliveries, later
replication), connecting only to addresses the :class:`OutboundPolicy` admits.

httpcore rather than httpx: its connection pool takes a network backend, and
:class:`_CheckedBackend` resolves each host itself, checks every address and connects to
the checked IP. TLS is started by httpcore on that connection with the URL's host name, so
SNI and certificate verification, like the ``Host`` header, stay on the name. httpcore
never follows redirects and reads no proxy settings from the environment (a proxy would
make the proxy's address the one checked).
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

#: Connections kept per client: enough for a worker delivering a few hundred webhooks a
#: second to a handful of receivers.
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
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(),
            max_connections=MAX_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=_CheckedBackend(policy),
        )

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
        # Host comes from the URL (httpcore adds it); a caller's own would be believed.
        request_headers = [(k, v) for k, v in headers.items() if k.lower() != "host"]
        if not any(k.lower() == "user-agent" for k, _ in request_headers):
            request_headers.append(("User-Agent", USER_AGENT))
        timeouts = {
            "connect": self.connect_timeout,
            "pool": self.connect_timeout,
            "read": self.total_timeout,
            "write": self.total_timeout,
        }
        async with self._pool.stream(
            "POST", url, headers=request_headers, content=body, extensions={"timeout": timeouts}
        ) as response:
            excerpt = await self._read_capped(response)
            server_address = response.extensions["network_stream"].get_extra_info("server_addr")
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
        await self._pool.aclose()


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
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        if failure is not None:
            raise failure
        reasons = "; ".join(refusals)
        raise OutboundRefused(reasons if _is_address(host) else f"{host}: {reasons}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


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
    if isinstance(exc, httpcore.PoolTimeout):
        return f"no free connection within {client.connect_timeout:g} s"
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
