"""A real HTTP receiver for trigger deliveries, run as a process of its own.

``python -m tests.webhook_receiver --port P --record FILE`` (or ``python
tests/webhook_receiver.py …``) answers every POST and appends one JSON line per request
to FILE: the delivery id, timestamp and signature headers, the content type, the body,
the arrival time (``time.time()``), the path and the status it answered. ``GET
/_deliveries`` returns the same records as a JSON list. It uses the standard library only.

What it answers is chosen by the request path, so one receiver serves every trigger of a
test module:

* ``/fail/<n>/…``: 500 to the first ``n`` requests of each delivery id, then 200;
* ``/status/<code>/…``: always ``code``;
* anything else: 200, or what ``--fail-first N`` / ``--status CODE`` say for every path.

A request whose body ends before its ``Content-Length`` (the sender was killed) is recorded
with status 0 and not answered.

:class:`Receiver` runs it from a test: its port is chosen when it is made, so a trigger
can name its URL before it listens ("receiver down, then up"), and the records survive a
stop (they are read from the file).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DELIVERY = "X-Dockyard-Delivery"
TIMESTAMP = "X-Dockyard-Timestamp"
SIGNATURE = "X-Dockyard-Signature"
START_TIMEOUT = 30.0
#: The ``status`` of a request whose body was cut short (the sender died): not a delivery.
CUT_SHORT = 0


# -- the server (its own process) ------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the sender may reuse its connections
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stall
    server: _RecordingServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        delivery = self.headers.get(DELIVERY)
        # A sender killed mid-request leaves a short body: recorded as status 0, unanswered.
        status = self.server.answer(self.path, delivery) if len(body) == length else CUT_SHORT
        record = {
            "delivery": delivery,
            "timestamp": self.headers.get(TIMESTAMP),
            "signature": self.headers.get(SIGNATURE),
            "contentType": self.headers.get("Content-Type"),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "path": self.path,
            "body": body.decode("utf-8", errors="replace"),
            "arrival": time.time(),
            "status": status,
        }
        self.server.record(record)
        if status == CUT_SHORT:
            self.close_connection = True
            return
        self._reply(status, b'{"ok":true}' if status < 300 else b'{"ok":false}')

    def do_GET(self) -> None:
        if self.path != "/_deliveries":
            self._reply(404, b"{}")
            return
        self._reply(200, json.dumps(self.server.records()).encode())

    def _reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSONL file is the log


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, path: Path, fail_first: int, status: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.out = open(path, "a", encoding="utf-8")  # closed in server_close
        self.fail_first = fail_first
        self.status = status
        self.seen: Counter[str | None] = Counter()
        self.path = path

    def answer(self, path: str, delivery: str | None) -> int:
        parts = path.strip("/").split("/")
        with self.lock:
            self.seen[delivery] += 1
            count = self.seen[delivery]
        if len(parts) >= 2 and parts[0] == "status" and parts[1].isdigit():
            return int(parts[1])
        fail_first = self.fail_first
        if len(parts) >= 2 and parts[0] == "fail" and parts[1].isdigit():
            fail_first = int(parts[1])
        if count <= fail_first:
            return 500
        return self.status

    def record(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self.lock:
            self.out.write(line)
            self.out.flush()

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return read_records(self.path)

    def server_close(self) -> None:
        super().server_close()
        self.out.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every request the receiver recorded in ``path`` (a line cut short is skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True, help="JSONL file to append to")
    parser.add_argument("--fail-first", type=int, default=0, help="500 to the first N per id")
    parser.add_argument("--status", type=int, default=200, help="the status otherwise")
    args = parser.parse_args(argv)
    server = _RecordingServer(args.port, args.record, args.fail_first, args.status)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"receiving on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
    return 0


# -- the test side ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Delivery:
    """One request as the receiver saw it."""

    delivery: str | None
    timestamp: str | None
    signature: str | None
    content_type: str | None
    headers: dict[str, str]
    path: str
    body: str
    arrival: float
    status: int

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def complete(self) -> bool:
        """False when the sender died mid-request (the body is cut short)."""
        return self.status != CUT_SHORT

    @classmethod
    def of(cls, record: dict[str, Any]) -> Delivery:
        return cls(
            record["delivery"],
            record["timestamp"],
            record["signature"],
            record["contentType"],
            record["headers"],
            record["path"],
            record["body"],
            record["arrival"],
            record["status"],
        )


class Receiver:
    """The receiver process on a port fixed at creation; start and stop it at will."""

    def __init__(self, directory: Path, *, fail_first: int = 0, status: int = 200) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.record_path = self.directory / "deliveries.jsonl"
        self.log_path = self.directory / "receiver.log"
        self.port = _free_port()
        self.fail_first = fail_first
        self.status = status
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hook(self, name: str) -> str:
        """A URL answered with 200 (or the receiver's default)."""
        return f"{self.url}/hook/{name}"

    def failing(self, times: int, name: str) -> str:
        """A URL answered with 500 to the first ``times`` requests of each delivery id."""
        return f"{self.url}/fail/{times}/{name}"

    def answering(self, status: int, name: str) -> str:
        """A URL always answered with ``status``."""
        return f"{self.url}/status/{status}/{name}"

    def start(self) -> Receiver:
        if self.running:
            return self
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--port",
                    str(self.port),
                    "--record",
                    str(self.record_path),
                    "--fail-first",
                    str(self.fail_first),
                    "--status",
                    str(self.status),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"webhook receiver exited:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_deliveries", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"webhook receiver not up after {START_TIMEOUT}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def deliveries(self, url: str | None = None) -> list[Delivery]:
        """Every request received so far (sent to ``url``, if given), in arrival order."""
        records = [Delivery.of(r) for r in read_records(self.record_path)]
        if url is None:
            return records
        path = urlsplit(url).path  # whatever host name the URL gave (localhost, 127.0.0.1)
        return [d for d in records if d.path.split("?")[0] == path]

    def accepted(self, url: str | None = None) -> list[Delivery]:
        """The requests answered with a 2xx: what the receiver took as delivered."""
        return [d for d in self.deliveries(url) if d.accepted]

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
