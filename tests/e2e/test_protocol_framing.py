"""Malformed HTTP/1.x framing, sent over raw sockets to a running server.

``Host`` is checked by Dockyard's guard (``dockyard.host_guard``); ``Content-Length`` and
``Transfer-Encoding`` by Granian, before any application code runs. Each test sends one
request (a few pipeline a second one behind it) and reads until the server closes.
"""

from __future__ import annotations

import re
import socket

import pytest
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

#: Only a safety net for a server that never closes: every exchange here ends with a close.
SOCKET_TIMEOUT_SECONDS = 30.0
#: Not anchored to a line start: a pipelined answer follows the previous body directly.
STATUS_LINE = re.compile(rb"HTTP/1\.[01] \d{3}")


def _exchange(server: DockyardServer, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), SOCKET_TIMEOUT_SECONDS) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _status_lines(reply: bytes) -> list[bytes]:
    return STATUS_LINE.findall(reply)


def _head(reply: bytes) -> bytes:
    return reply.partition(b"\r\n\r\n")[0].lower()


def test_http11_with_one_host_is_served(registry: DockyardServer) -> None:
    reply = _exchange(registry, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert _status_lines(reply) == [b"HTTP/1.1 200"], reply


def test_http11_without_host_is_refused(registry: DockyardServer) -> None:
    reply = _exchange(registry, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert _status_lines(reply) == [b"HTTP/1.1 400"], reply
    assert b"connection: close" in _head(reply)
    assert b"Host" in reply.partition(b"\r\n\r\n")[2]


def test_http11_with_an_empty_host_is_refused(registry: DockyardServer) -> None:
    reply = _exchange(registry, b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n")
    assert _status_lines(reply) == [b"HTTP/1.1 400"], reply


def test_http11_with_two_hosts_is_refused(registry: DockyardServer) -> None:
    reply = _exchange(registry, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert _status_lines(reply) == [b"HTTP/1.1 400"], reply
    assert b"connection: close" in _head(reply)


def test_http10_without_host_is_served(registry: DockyardServer) -> None:
    reply = _exchange(registry, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert _status_lines(reply) == [b"HTTP/1.0 200"], reply


def test_two_different_content_lengths_are_refused(registry: DockyardServer) -> None:
    raw = (
        b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    )
    reply = _exchange(registry, raw)
    assert _status_lines(reply) == [b"HTTP/1.1 400"], reply


def test_a_content_length_list_is_refused(registry: DockyardServer) -> None:
    reply = _exchange(
        registry, b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!"
    )
    assert _status_lines(reply) == [b"HTTP/1.1 400"], reply


def test_a_content_length_list_of_equal_values_is_refused(registry: DockyardServer) -> None:
    reply = _exchange(
        registry, b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello"
    )
    assert _status_lines(reply) == [b"HTTP/1.1 400"], reply


def test_a_repeated_equal_content_length_frames_the_body_with_that_length(
    registry: DockyardServer,
) -> None:
    """RFC 9110 §8.6 lets a recipient use the one value of identical repeats; Granian does
    (and hides the repeat from the application). There is no ambiguity to exploit: the
    request after the five-byte body is read as the next request."""
    raw = (
        b"POST /healthz HTTP/1.1\r\nHost: a\r\n"
        b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /after-the-body HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    reply = _exchange(registry, raw)
    assert _status_lines(reply) == [b"HTTP/1.1 200", b"HTTP/1.1 404"], reply
    assert b"nothing at /after-the-body" in reply


def test_transfer_encoding_with_content_length_is_read_as_chunked_and_closed(
    registry: DockyardServer,
) -> None:
    """RFC 9112 §6.1: the body is framed by Transfer-Encoding alone and the connection is
    closed after the answer, so bytes a Content-Length reader would have taken for a second
    (smuggled) request are never answered."""
    raw = (
        b"POST /healthz HTTP/1.1\r\nHost: a\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
        b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    reply = _exchange(registry, raw)
    assert _status_lines(reply) == [b"HTTP/1.1 200"], reply
    assert b"connection: close" in _head(reply)
    assert b"smuggled" not in reply
