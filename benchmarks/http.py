"""A minimal HTTP/1.1 keep-alive client over a raw socket.

Made for measuring servers, not for general use: it sends bodies straight from memory
(``sendall`` of memoryviews, no copies), can discard response bodies into one reusable
buffer (no hashing, no allocation per chunk), and releases the GIL in every socket call so
that several threads keep several connections busy.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Buffer = bytes | bytearray | memoryview

_SCRATCH = 1024 * 1024


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    nbytes: int = 0

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


class HTTPError(RuntimeError):
    pass


class Connection:
    """One keep-alive connection to ``host:port``; reconnects when the server closes."""

    def __init__(self, host: str, port: int, timeout: float = 300.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self._buf = bytearray()
        self._scratch = bytearray(_SCRATCH)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._buf.clear()
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: Buffer | Sequence[Buffer] | None = None,
        *,
        discard: bool = False,
    ) -> Response:
        """Send one request; ``body`` may be a list of buffers sent back to back.

        ``discard`` counts the response body without keeping it."""
        parts: list[Buffer] = []
        if body is not None:
            parts = list(body) if isinstance(body, list | tuple) else [body]  # type: ignore[list-item]
        length = sum(memoryview(p).nbytes for p in parts)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None or method in ("PUT", "POST", "PATCH"):
            lines.append(f"Content-Length: {length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for attempt in (0, 1):
            sock = self.sock or self._connect()
            try:
                if length <= 64 * 1024:
                    sock.sendall(head + b"".join(bytes(p) for p in parts))
                else:
                    sock.sendall(head)
                    for p in parts:
                        sock.sendall(p)
                return self._read_response(method, discard)
            except (ConnectionResetError, BrokenPipeError, HTTPError):
                # A keep-alive connection the server had closed: retry once, fresh.
                self.close()
                if attempt == 1 or length > 64 * 1024:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise HTTPError("connection closed by the server")
        self._buf += data

    def _readline(self) -> bytes:
        while True:
            idx = self._buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + 2]
                return line
            self._fill()

    def _read_exact(self, n: int, keep: bool) -> bytes:
        """Read ``n`` body bytes; return them when ``keep``, else throw them away."""
        out = bytearray() if keep else None
        take = min(n, len(self._buf))
        if take:
            if out is not None:
                out += self._buf[:take]
            del self._buf[:take]
            n -= take
        assert self.sock is not None
        view = memoryview(self._scratch)
        while n > 0:
            got = self.sock.recv_into(view, min(n, len(view)))
            if got == 0:
                raise HTTPError("connection closed inside a response body")
            if out is not None:
                out += view[:got]
            n -= got
        return bytes(out) if out is not None else b""

    def _read_response(self, method: str, discard: bool) -> Response:
        status_line = self._readline()
        try:
            status = int(status_line.split(b" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise HTTPError(f"bad status line {status_line!r}") from exc
        headers: dict[str, str] = {}
        while line := self._readline():
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        resp = Response(status, headers)
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if not no_body:
            if "chunked" in headers.get("transfer-encoding", ""):
                chunks = []
                while True:
                    size = int(self._readline().split(b";")[0], 16)
                    if size == 0:
                        while self._readline():
                            pass
                        break
                    chunks.append(self._read_exact(size, not discard))
                    resp.nbytes += size
                    self._readline()
                resp.body = b"".join(chunks)
            elif "content-length" in headers:
                n = int(headers["content-length"])
                resp.body = self._read_exact(n, not discard)
                resp.nbytes = n
            else:  # body until close
                chunks = []
                try:
                    while True:
                        self._fill()
                except HTTPError:
                    pass
                resp.body = bytes(self._buf)
                resp.nbytes = len(resp.body)
                self._buf.clear()
                self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return resp


def split_location(location: str) -> str:
    """Path and query of a ``Location`` header, absolute or relative."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def add_query(target: str, key: str, value: str) -> str:
    return f"{target}{'&' if '?' in target else '?'}{key}={value}"
