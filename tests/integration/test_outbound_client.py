"""The outbound HTTP client against real local servers (threads of this test process):
the policy is applied to the resolved address, redirects come back unfollowed, bodies are
capped, silence times out, and TLS verifies the URL's host name while connecting to an IP."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockyard.outbound import (
    OutboundClient,
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
    OutboundResponse,
)

pytestmark = pytest.mark.integration

LOOPBACK = OutboundPolicy(
    allowed=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
)


class Receiver(ThreadingHTTPServer):
    """POST /ok answers 200; /redirect answers 302 to /target; /endless streams a body
    that never ends. Every request is recorded as (path, headers, body)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.server_names: list[str | None] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append((self.path, dict(self.headers.items()), body))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/target")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            except OSError:  # the client hung up: what the test wants
                return
        else:
            self.send_response(200)
            self.send_header("Content-Length", "8")
            self.end_headers()
            self.wfile.write(b"received")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serving(Receiver())


def serving(server: Receiver) -> Iterator[Receiver]:
    """Serve ``server`` from a thread while the test runs."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def post(client: OutboundClient, url: str, body: bytes = b"{}") -> OutboundResponse:
    async def scenario() -> OutboundResponse:
        try:
            return await client.post(url, body, {"Content-Type": "application/json"})
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def test_loopback_is_refused_by_default_with_the_reason(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused) as refused:
        post(OutboundClient(OutboundPolicy()), f"http://127.0.0.1:{receiver.port}/ok")
    assert refused.value.reason == (
        "127.0.0.1 is a loopback address (set DOCKYARD_WEBHOOK_ALLOWED_CIDRS to allow it)"
    )
    assert receiver.requests == []


def test_an_allowed_range_admits_loopback(receiver: Receiver) -> None:
    response = post(OutboundClient(LOOPBACK), f"http://127.0.0.1:{receiver.port}/ok", b'{"a":1}')
    assert (response.status, response.body_excerpt, response.address) == (
        200,
        "received",
        "127.0.0.1",
    )
    ((path, headers, body),) = receiver.requests
    assert (path, body) == ("/ok", b'{"a":1}')
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("Dockyard/")


def test_a_name_resolving_to_loopback_is_refused(receiver: Receiver) -> None:
    """The check is on what the name resolves to, not on the name."""
    with pytest.raises(OutboundRefused) as refused:
        post(OutboundClient(OutboundPolicy()), f"http://localhost:{receiver.port}/ok")
    assert refused.value.reason.startswith("localhost: ")
    assert "is a loopback address" in refused.value.reason
    assert receiver.requests == []


def test_the_name_is_admitted_once_loopback_is_allowed(receiver: Receiver) -> None:
    response = post(OutboundClient(LOOPBACK), f"http://localhost:{receiver.port}/ok")
    assert response.status == 200
    assert ipaddress.ip_address(response.address).is_loopback
    assert receiver.requests[-1][1]["Host"] == f"localhost:{receiver.port}"


def test_an_ipv4_mapped_loopback_is_refused(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused) as refused:
        post(OutboundClient(OutboundPolicy()), f"http://[::ffff:127.0.0.1]:{receiver.port}/ok")
    assert "(127.0.0.1) is a loopback address" in refused.value.reason


@pytest.mark.parametrize(
    ("policy", "url", "reason"),
    [
        (
            OutboundPolicy(),
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address",
        ),
        (
            OutboundPolicy(deny_private=True),
            "http://10.11.12.13:8080/hook",
            "10.11.12.13 is a private address and DOCKYARD_WEBHOOK_DENY_PRIVATE is set",
        ),
    ],
    ids=["metadata-service", "deny-private"],
)
def test_refused_before_any_connection(policy: OutboundPolicy, url: str, reason: str) -> None:
    """Neither address exists here: a refusal that tried to connect would time out."""
    with pytest.raises(OutboundRefused) as refused:
        post(OutboundClient(policy, total_timeout=30), url)
    assert refused.value.reason.startswith(reason)


def test_a_redirect_is_returned_not_followed(receiver: Receiver) -> None:
    response = post(OutboundClient(LOOPBACK), f"http://127.0.0.1:{receiver.port}/redirect")
    assert response.status == 302
    assert [path for path, _, _ in receiver.requests] == ["/redirect"]


def test_the_body_read_stops_at_the_cap(receiver: Receiver) -> None:
    """The body never ends: a client reading it all would hit the total timeout instead."""
    client = OutboundClient(LOOPBACK, max_response_bytes=1000, total_timeout=60)
    response = post(client, f"http://127.0.0.1:{receiver.port}/endless")
    assert (response.status, response.body_excerpt) == (200, "x" * 1000)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; records the client's port of each request. ``/close``
    answers with ``Connection: close``."""

    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append((self.path, {"port": str(self.client_address[1])}, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def keepalive_receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.RequestHandlerClass = _KeepAliveHandler
    yield from serving(server)


def test_connections_are_kept_alive_and_not_reused_once_closed(
    keepalive_receiver: Receiver,
) -> None:
    base = f"http://127.0.0.1:{keepalive_receiver.port}"

    async def scenario() -> list[int]:
        client = OutboundClient(LOOPBACK)
        try:
            statuses = [
                (await client.post(f"{base}/{path}", b"{}", {})).status
                for path in ("a", "b", "close", "c", "d")
            ]
            assert statuses == [200] * 5
            concurrent = await asyncio.gather(
                *(client.post(f"{base}/e", b"", {}) for _ in range(3))
            )
            assert [r.status for r in concurrent] == [200] * 3
        finally:
            await client.aclose()
        return [int(headers["port"]) for _, headers, _ in keepalive_receiver.requests]

    ports = asyncio.run(scenario())
    # a, b and close on one connection; c and d on a second; three at once need three.
    assert ports[0] == ports[1] == ports[2] != ports[3] == ports[4]
    assert len(set(ports[5:])) == 3 and ports[3] in ports[5:]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def test_a_server_that_never_answers_times_out_retryably(silent_port: int) -> None:
    client = OutboundClient(LOOPBACK, total_timeout=0.5)
    with pytest.raises(OutboundFailed) as failed:
        post(client, f"http://127.0.0.1:{silent_port}/")
    assert failed.value.retryable
    assert failed.value.reason == "no complete response within 0.5 s"


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    """A listener that never accepts, its backlog already full: the kernel drops further
    connection attempts (SYNs), so connecting hangs until the client gives up."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            for _ in range(4):  # a backlog of 0 still queues one or two
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            yield port
        finally:
            for filler in fillers:
                filler.close()


def test_a_connection_that_never_completes_times_out_retryably(full_backlog_port: int) -> None:
    client = OutboundClient(LOOPBACK, connect_timeout=0.3, total_timeout=5)
    with pytest.raises(OutboundFailed) as failed:
        post(client, f"http://127.0.0.1:{full_backlog_port}/")
    assert failed.value.retryable
    assert failed.value.reason == "no connection within 0.3 s"


def test_a_refused_connection_is_retryable(closed_port: int) -> None:
    with pytest.raises(OutboundFailed) as failed:
        post(OutboundClient(LOOPBACK), f"http://127.0.0.1:{closed_port}/")
    assert failed.value.retryable
    assert failed.value.reason.startswith("cannot connect: ")


def test_an_unknown_name_is_retryable() -> None:
    with pytest.raises(OutboundFailed) as failed:
        post(OutboundClient(OutboundPolicy()), "http://no-such-host.invalid/hook")
    assert failed.value.retryable
    assert failed.value.reason.startswith("cannot resolve no-such-host.invalid: ")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "not an http:// or https:// URL with a host"),
        ("http:///hook", "not an http:// or https:// URL with a host"),
        ("http://[::1/hook", "invalid URL: Invalid IPv6 URL"),
        ("http://example.com:99999/", "invalid URL: Port out of range 0-65535"),
    ],
)
def test_a_url_that_cannot_be_sent_to_is_final(url: str, reason: str) -> None:
    with pytest.raises(OutboundFailed) as failed:
        post(OutboundClient(OutboundPolicy()), url)
    assert (failed.value.reason, failed.value.retryable) == (reason, False)


# --- TLS: a CA of the test's own and a server certificate for a chosen name.


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    dns_name: str | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=dns_name is None, path_length=None), True)
    )
    if dns_name is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_receiver(
    tmp_path: Path,
) -> Iterator[Callable[[str], tuple[Receiver, ssl.SSLContext]]]:
    """A factory: a TLS receiver whose certificate names ``dns_name``, and a client context
    trusting the CA that signed it. The server records the SNI name it was sent."""
    servers: list[tuple[Receiver, threading.Thread]] = []

    def start(dns_name: str) -> tuple[Receiver, ssl.SSLContext]:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("Test CA", ca_key, "Test CA", ca_key)
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(dns_name, key, "Test CA", ca_key, dns_name=dns_name)
        chain = tmp_path / f"{dns_name}.pem"
        chain.write_bytes(
            _pem(certificate)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server = Receiver()
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(chain)
        server_context.sni_callback = lambda _sock, name, _ctx: server.server_names.append(name)
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return server, ssl.create_default_context(cadata=_pem(ca).decode())

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_verifies_the_host_name_while_connecting_to_the_ip(
    tls_receiver: Callable[[str], tuple[Receiver, ssl.SSLContext]],
) -> None:
    server, trust = tls_receiver("localhost")
    client = OutboundClient(LOOPBACK, ssl_context=trust)
    response = post(client, f"https://localhost:{server.port}/ok")
    assert (response.status, response.address) == (200, "127.0.0.1")
    assert server.server_names == ["localhost"]
    assert server.requests[0][1]["Host"] == f"localhost:{server.port}"


def test_a_certificate_for_another_name_is_final(
    tls_receiver: Callable[[str], tuple[Receiver, ssl.SSLContext]],
) -> None:
    server, trust = tls_receiver("elsewhere.example")
    client = OutboundClient(LOOPBACK, ssl_context=trust)
    with pytest.raises(OutboundFailed) as failed:
        post(client, f"https://localhost:{server.port}/ok")
    assert not failed.value.retryable
    assert failed.value.reason.startswith("TLS certificate not accepted: Hostname mismatch")
    assert server.requests == []
