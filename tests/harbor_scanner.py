"""A scanner adapter for the tests: a real HTTP server speaking Harbor's Pluggable Scanner
API v1.1 (``GET /api/v1/metadata``, ``POST /api/v1/scan``,
``GET /api/v1/scan/{id}/report``), run as its own process.

A scan request is handled the way a real adapter does it: the image is pulled from the
registry named in the request with the ``Authorization`` value given there (manifest,
then every blob, each checked against its digest), its layers are unpacked in memory and
the Debian packages listed in ``var/lib/dpkg/status`` are looked up in the advisories this
server was started with (``package version id severity fixed`` per line of a file). The
first poll of a report always answers ``302`` with ``Refresh-After``, as a slow scanner
does; a pull that fails makes the report a ``500`` with the registry's answer.

Run: ``python -m tests.harbor_scanner ADVISORIES [--api-key KEY]``; it prints its URL.
Fixture: ``harbor_scanner(advisories_text, api_key=None)`` -> :class:`ScannerAdapter`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

METADATA_TYPE = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUEST_TYPE = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_RESPONSE_TYPE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR_TYPE = "application/vnd.scanner.adapter.error+json; version=1.0"
REPORT_TYPE = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
SCANNER = {"name": "TestScan", "vendor": "Dockyard tests", "version": "1.1.0"}


@dataclass(frozen=True)
class Advisory:
    package: str
    version: str
    id: str
    severity: str
    fixed: str


def read_advisories(text: str) -> list[Advisory]:
    return [Advisory(*line.split()) for line in text.splitlines() if line.strip()]


def dpkg_packages(status: str) -> dict[str, str]:
    """Package -> version of a dpkg status file."""
    found = {}
    for stanza in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if "Package" in fields and "Version" in fields:
            found[fields["Package"]] = fields["Version"]
    return found


class Registry:
    """Pulls one image over the distribution API with the request's authorization."""

    def __init__(self, url: str, authorization: str | None) -> None:
        self.url = url.rstrip("/")
        self.authorization = authorization

    def get(self, path: str, accept: str = "*/*") -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Accept": accept})
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        with urllib.request.urlopen(request, timeout=30) as response:
            data: bytes = response.read()
        return data

    def blob(self, repository: str, digest: str) -> bytes:
        data = self.get(f"/v2/{repository}/blobs/{digest}")
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise ValueError(f"blob {digest} does not match its digest")
        return data


def scan(request: dict[str, Any], advisories: list[Advisory]) -> list[dict[str, Any]]:
    """Pull the image and report the advisories its dpkg database matches."""
    registry = Registry(request["registry"]["url"], request["registry"].get("authorization"))
    artifact = request["artifact"]
    repository, digest = artifact["repository"], artifact["digest"]
    manifest = json.loads(
        registry.get(f"/v2/{repository}/manifests/{digest}", ",".join(MANIFEST_TYPES))
    )
    registry.blob(repository, manifest["config"]["digest"])
    found = []
    for layer in manifest["layers"]:
        data = registry.blob(repository, layer["digest"])
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as archive:
            member = next(
                (m for m in archive.getmembers() if m.name.lstrip("./") == "var/lib/dpkg/status"),
                None,
            )
            extracted = archive.extractfile(member) if member else None
            installed = dpkg_packages(extracted.read().decode()) if extracted else {}
        for advisory in advisories:
            if installed.get(advisory.package) == advisory.version:
                found.append(
                    {
                        "id": advisory.id,
                        "package": advisory.package,
                        "version": advisory.version,
                        "fix_version": advisory.fixed,
                        "severity": advisory.severity,
                        "description": f"{advisory.package}: a test advisory",
                        "links": [],
                        "layer": {"digest": layer["digest"]},
                    }
                )
    return found


class Adapter(ThreadingHTTPServer):
    def __init__(self, advisories: list[Advisory], api_key: str | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.advisories = advisories
        self.api_key = api_key
        self.lock = threading.Lock()
        #: Scan request id -> ("pending" | "done" | "failed", report or error, polls).
        self.scans: dict[str, list[Any]] = {}

    def run_scan(self, request_id: str, request: dict[str, Any]) -> None:
        try:
            outcome = ["done", scan(request, self.advisories)]
        except (urllib.error.URLError, OSError, ValueError, KeyError, tarfile.TarError) as exc:
            outcome = ["failed", f"pulling the image failed: {exc}"]
        with self.lock:
            self.scans[request_id][:2] = outcome


class Handler(BaseHTTPRequestHandler):
    server: Adapter

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"adapter: {format % args}\n")

    def _send(self, status: int, body: Any = None, content_type: str = "", **headers: str) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message}}, ERROR_TYPE)

    def _authorized(self) -> bool:
        if self.server.api_key and self.headers.get("Authorization") != (
            f"Bearer {self.server.api_key}"
        ):
            self._error(401, "missing or wrong API key")
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path == "/api/v1/metadata":
            capability = {
                "consumes_mime_types": MANIFEST_TYPES,
                "produces_mime_types": [REPORT_TYPE],
            }
            body = {
                "scanner": SCANNER,
                "capabilities": [capability],
                "properties": {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"},
            }
            self._send(200, body, METADATA_TYPE)
            return
        parts = self.path.split("/")
        if len(parts) != 6 or parts[1:4] != ["api", "v1", "scan"] or parts[5] != "report":
            self._error(404, f"no route {self.path}")
            return
        if self.headers.get("Accept") != REPORT_TYPE:
            self._error(400, f"unsupported report type {self.headers.get('Accept')}")
            return
        with self.server.lock:
            found = self.server.scans.get(parts[4])
            if found is not None:
                found[2] += 1
                state, result, polls = list(found)
        if found is None:
            self._error(404, f"no scan request {parts[4]}")
        elif state == "pending" or polls == 1:
            self._send(302, Refresh_After="1")
        elif state == "failed":
            self._error(500, result)
        else:
            report = {
                "generated_at": datetime.now(UTC).isoformat(),
                "scanner": SCANNER,
                "severity": "High",
                "vulnerabilities": result,
            }
            self._send(200, report, REPORT_TYPE)

    def do_POST(self) -> None:
        if not self._authorized():
            return
        if self.path != "/api/v1/scan":
            self._error(404, f"no route {self.path}")
            return
        if self.headers.get("Content-Type") != SCAN_REQUEST_TYPE:
            self._error(400, f"unsupported content type {self.headers.get('Content-Type')}")
            return
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if not (request["registry"]["url"] and request["artifact"]["digest"]):
                raise ValueError("no registry URL or artifact digest")
        except (ValueError, KeyError, TypeError) as exc:
            self._error(422, f"not a scan request: {exc!r}")
            return
        request_id = str(uuid.uuid4())
        with self.server.lock:
            self.server.scans[request_id] = ["pending", None, 0]
        threading.Thread(target=self.server.run_scan, args=(request_id, request)).start()
        self._send(202, {"id": request_id}, SCAN_RESPONSE_TYPE)


@dataclass
class ScannerAdapter:
    url: str
    process: subprocess.Popen[str]


@pytest.fixture
def harbor_scanner(tmp_path: Path) -> Iterator[Callable[..., ScannerAdapter]]:
    """Factory: ``harbor_scanner(advisories_text, api_key=None)`` -> a running adapter,
    stopped when the test ends."""
    started: list[subprocess.Popen[str]] = []

    def start(advisories: str, api_key: str | None = None) -> ScannerAdapter:
        path = tmp_path / f"advisories-{len(started)}.txt"
        path.write_text(advisories)
        command = [sys.executable, "-m", "tests.harbor_scanner", str(path)]
        process = subprocess.Popen(
            [*command, *(["--api-key", api_key] if api_key else [])],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        started.append(process)
        assert process.stdout is not None
        return ScannerAdapter(process.stdout.readline().strip(), process)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("advisories", type=Path)
    parser.add_argument("--api-key")
    args = parser.parse_args()
    server = Adapter(read_advisories(args.advisories.read_text()), args.api_key)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
