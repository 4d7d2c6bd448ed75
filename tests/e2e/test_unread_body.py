"""Answers given before the request body is read leave the connection usable, or say it closes.

A malformed digest on an upload PUT is refused before the body is read. Without care the
server then closed the connection without ``Connection: close`` whenever the body had not
fully arrived, and a pooling client's next request on it failed ("server disconnected
without sending a response"). Each test speaks HTTP/1.1 over one raw socket, so that the
next request provably reuses the connection the refused one came on.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.conftest import DockyardServer
from tests.e2e.regclient import RegistryClient

pytestmark = pytest.mark.e2e

#: Only a safety net for a server that never answers.
SOCKET_TIMEOUT_SECONDS = 30.0
MALFORMED_DIGEST = "sha256:" + "a" * 63
#: Larger than one read of the server's socket (so it is not all there when the handler
#: answers), smaller than what the server drains (``dockyard.unread_body``, 1 MiB).
DRAINED_BODY = 256 * 1024
#: More than the server drains.
UNDRAINED_LENGTH = 2 * 1024 * 1024


class Connection:
    """One keep-alive HTTP/1.1 connection, with Basic credentials on every request."""

    def __init__(self, server: DockyardServer) -> None:
        self.server = server
        self.sock = socket.create_connection(("127.0.0.1", server.port), SOCKET_TIMEOUT_SECONDS)
        self.reader = self.sock.makefile("rb")
        token = base64.b64encode(":".join(server.admin).encode()).decode()
        self.authorization = f"Basic {token}"

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.server.host}"]
        lines += [f"Authorization: {self.authorization}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = self.reader.readline()
        assert status_line, "the server closed the connection without an answer"
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body

    def request(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        self.send(method, path, {"Content-Length": "0"})
        return self.response()


@pytest.fixture
def connection(registry: DockyardServer) -> Iterator[Connection]:
    conn = Connection(registry)
    yield conn
    conn.close()


def _refused_put_path(client: RegistryClient, repo: str) -> str:
    location = urlsplit(client.upload_location(repo))
    query = f"{location.query}&" if location.query else ""
    return f"{location.path}?{query}digest={MALFORMED_DIGEST}"


def test_connection_is_reused_after_an_early_answer_to_a_body(
    client: RegistryClient, connection: Connection, repo: str
) -> None:
    for _ in range(3):  # the same connection, again and again
        path = _refused_put_path(client, repo)
        connection.send("PUT", path, {"Content-Length": str(DRAINED_BODY)}, b"x" * DRAINED_BODY)
        status, headers, body = connection.response()
        assert status == 400 and b"DIGEST_INVALID" in body, (status, body)
        assert headers.get("connection", "").lower() != "close", headers
        status, _, body = connection.request("GET", "/v2/")
        assert status == 200, (status, body)


def test_connection_is_reused_after_an_early_answer_to_a_chunked_body(
    client: RegistryClient, connection: Connection, repo: str
) -> None:
    chunk = b"x" * DRAINED_BODY
    chunked = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    connection.send(
        "PUT", _refused_put_path(client, repo), {"Transfer-Encoding": "chunked"}, chunked
    )
    status, headers, body = connection.response()
    assert status == 400 and b"DIGEST_INVALID" in body, (status, body)
    assert headers.get("connection", "").lower() != "close", headers
    status, _, body = connection.request("GET", "/v2/")
    assert status == 200, (status, body)


def test_a_body_too_large_to_drain_closes_the_connection_with_notice(
    client: RegistryClient, connection: Connection, repo: str
) -> None:
    # Only the start of the body is sent: the answer must not wait for the rest.
    path = _refused_put_path(client, repo)
    connection.send("PUT", path, {"Content-Length": str(UNDRAINED_LENGTH)}, b"x" * 4096)
    status, headers, body = connection.response()
    assert status == 400 and b"DIGEST_INVALID" in body, (status, body)
    assert headers.get("connection", "").lower() == "close", headers


def test_a_body_held_back_for_100_continue_closes_the_connection_with_notice(
    client: RegistryClient, connection: Connection, repo: str
) -> None:
    path = _refused_put_path(client, repo)
    connection.send("PUT", path, {"Content-Length": "4", "Expect": "100-continue"})
    status, headers, body = connection.response()
    assert status == 400 and b"DIGEST_INVALID" in body, (status, body)
    assert headers.get("connection", "").lower() == "close", headers
