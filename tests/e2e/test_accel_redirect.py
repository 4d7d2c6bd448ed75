"""nginx in front of Dockyard sends blob bytes itself, from the file (X-Accel-Redirect).

A real ``dockyard serve`` trusting 127.0.0.1 and a real nginx (``daemon off``, on a free
port) running what ``dockyard nginx-config`` writes for it (docs/operations.md): pushes
and pulls go through nginx, whole and ranged blob GETs are answered by nginx from the blob
directory, and nginx's access log records the internal location each one was sent from. A
direct request from another address (127.0.0.2) carrying the same headers gets the bytes
from Dockyard.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tests.conftest import DockyardServer, free_port
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient, describe, expect, random_bytes
from tests.e2e.test_protocol_ranges import CASES as RANGE_CASES
from tests.e2e.test_protocol_ranges import DATA as RANGE_DATA
from tests.e2e.test_protocol_ranges import REFUSED, Case
from tests.e2e.test_protocol_ranges import check as check_range
from tests.e2e.test_tls_clients import make_test_ca

pytestmark = pytest.mark.e2e

INTERNAL = "/_dockyard_blobs/"
START_TIMEOUT = 10.0

#: The test's own main configuration around what ``dockyard nginx-config`` writes: nginx in
#: the foreground (``daemon off``) with its files in ``dir``, logging where each request
#: ended (``$uri``) and how many bytes Dockyard sent for it.
MAIN_CONF = """\
user root;
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format accel '$request_method $request_uri uri=$uri status=$status '
                     'upstream_bytes=$upstream_response_length';
    access_log {dir}/access.log accel;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/dockyard.conf;
}}
"""


def generate_front(
    dockyard: DockyardServer, listen: str, target: Path, extra: Sequence[str] = ()
) -> str:
    """``dockyard nginx-config`` as an operator runs it next to ``dockyard serve``: from the
    server's directory, with its settings (address, data dir, trusted proxies)."""
    env = {
        **os.environ,
        "DOCKYARD_LISTEN": dockyard.host,
        "DOCKYARD_DATA_DIR": str(dockyard.data_dir),
        "DOCKYARD_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    env.pop("DOCKYARD_CONFIG", None)
    argv = [sys.executable, "-m", "dockyard", "nginx-config", "--server-name", "127.0.0.1"]
    done = subprocess.run(
        [*argv, "--listen", listen, "--output", str(target), *extra],
        cwd=dockyard.base_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "trust" not in done.stderr, done.stderr  # the settings trust nginx's address
    return target.read_text()


class Nginx:
    """One nginx master (``daemon off``) with its config, logs and temp files in ``dir``."""

    def __init__(
        self,
        dir: Path,
        dockyard: DockyardServer | None,
        tls: tuple[Path, Path] | None = None,
        *,
        front: str = "",
    ) -> None:
        """In front of ``dockyard`` as ``dockyard nginx-config`` writes it, or with the
        ``front`` server block given (its ``{listen}`` filled in) before something else."""
        self.dir = dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.access_log = dir / "access.log"
        self.error_log = dir / "error.log"
        extra = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
        if dockyard is not None:
            self.front = generate_front(dockyard, self.host, dir / "dockyard.conf", extra)
        else:
            self.front = front.format(listen=self.host)
            (dir / "dockyard.conf").write_text(self.front)
        (dir / "nginx.conf").write_text(MAIN_CONF.format(dir=dir))
        self.proc = subprocess.Popen(
            [C.require("nginx"), "-c", str(dir / "nginx.conf"), "-p", str(dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(dir / "stderr.log", "wb"),
            start_new_session=True,
        )
        self._wait_ready()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def logs(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.error_log, self.dir / "stderr.log")]
        return "\n".join(parts)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.logs()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx not listening after {START_TIMEOUT}s:\n{self.logs()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # Workers share the session the master was started in.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def log_lines_for(self, request_uri: str, count: int = 1) -> list[str]:
        """The access-log lines of ``request_uri`` once ``count`` are written (nginx writes
        them when a request ends, which may be just after the client saw the last byte)."""
        deadline = time.monotonic() + 5
        while True:
            lines = [
                line
                for line in self.access_log.read_text().splitlines()
                if line.split(" ")[1:2] == [request_uri]
            ]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@pytest.fixture(scope="module")
def dockyard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    server = DockyardServer(
        tmp_path_factory.mktemp("dockyard-accel"),
        workers=1,
        extra_args=["--trusted-proxies", "127.0.0.1/32"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, dockyard: DockyardServer) -> Iterator[Nginx]:
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), dockyard)
    try:
        yield proxy
    finally:
        proxy.stop()


def _internal_uri(digest: str) -> str:
    algorithm, hexdigest = digest.split(":")
    return f"{INTERNAL}{algorithm}/{hexdigest[:2]}/{hexdigest}"


def test_blob_pulls_through_nginx_are_sent_by_nginx_from_the_file(
    nginx: Nginx, dockyard: DockyardServer
) -> None:
    blobs = dockyard.data_dir / "storage" / "blobs"
    assert f"X-Accel-Mapping {blobs}/={INTERNAL};" in nginx.front
    repo = "accel/blobs"
    data = random_bytes(3 * 1024 * 1024 + 17)
    with RegistryClient(nginx.url, *dockyard.admin) as client:
        digest = client.push_blob(repo, data)
        path = f"/v2/{repo}/blobs/{digest}"

        whole = expect(client.get(path), 200)
        assert hashlib.sha256(whole.content).hexdigest() == digest.removeprefix("sha256:")
        assert whole.content == data
        assert whole.headers["docker-content-digest"] == digest, describe(whole)
        assert whole.headers["etag"] == f'"{digest}"', describe(whole)
        assert whole.headers["content-length"] == str(len(data))
        assert whole.headers["content-type"] == "application/octet-stream"
        assert whole.headers["cache-control"] == "max-age=31536000"
        assert whole.headers.get_list("accept-ranges") == ["bytes"]
        assert "x-accel-redirect" not in whole.headers

        ranged = expect(client.get(path, headers={"Range": "bytes=1000-1999"}), 206)
        assert ranged.content == data[1000:2000]
        assert ranged.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert ranged.headers["docker-content-digest"] == digest, describe(ranged)
        assert "x-accel-redirect" not in ranged.headers

        past_end = client.get(path, headers={"Range": f"bytes={len(data)}-"})
        expect(past_end, 416)
        assert past_end.headers["content-range"] == f"bytes */{len(data)}"

        head = expect(client.head(path), 200)
        assert head.headers["content-length"] == str(len(data))
        assert head.headers["docker-content-digest"] == digest

    # Each GET (but the first, refused for its missing token) ended in the internal
    # location, and Dockyard sent no bytes of it.
    lines = nginx.log_lines_for(path, count=5)
    gets = [line for line in lines if line.startswith("GET ") and "status=401" not in line]
    assert [line.split("status=")[1].split()[0] for line in gets] == ["200", "206", "416"], lines
    for line in gets:
        assert f"uri={_internal_uri(digest)} " in line, line
        assert line.endswith("upstream_bytes=0"), line
    # HEAD is answered by Dockyard as before.
    (head_line,) = (line for line in lines if line.startswith("HEAD "))
    assert f"uri={path} " in head_line, head_line

    # The internal location cannot be asked for from outside.
    assert httpx.get(nginx.url + _internal_uri(digest)).status_code == 404


#: Where nginx, which parses the ranges of the blobs it sends, answers otherwise than
#: Dockyard: it rejects (416) what Dockyard ignores (RFC 9110 §14.2 allows both) and
#: positions past 2^63, and of two ranges it sends the one that is satisfiable.
NGINX_ANSWERS = {
    why: Case(why, b"", 416)
    for why in (
        "a huge last position",
        "more digits than int() reads",
        "a lone dash",
        "non-numeric",
        "non-numeric last position",
        "a negative start",
        "reversed",
        "reversed by one",
        "reversed and past the end",
        "several dashes",
        "a double dash",
        "a sign",
        "a Latin-1 superscript digit",
        "a tab inside the range",
        "a range and garbage",
        "a trailing comma",
    )
} | {
    "two ranges, the first unsatisfiable": Case("", b"", 206, (0, 1)),
}


def test_every_range_case_through_nginx_is_the_whole_blob_one_range_or_416(
    nginx: Nginx, dockyard: DockyardServer
) -> None:
    assert set(NGINX_ANSWERS) <= {case.why for case in RANGE_CASES}
    with RegistryClient(nginx.url, *dockyard.admin) as client:
        path = f"/v2/accel/ranges/blobs/{client.push_blob('accel/ranges', RANGE_DATA)}"
        for case in RANGE_CASES:
            resp = client.get(path, headers={"Range": case.header})  # type: ignore[dict-item]
            expected = NGINX_ANSWERS.get(case.why, case)
            check_range(resp, replace(expected, why=case.why), error_page=True)
    # Every ranged answer but the refused ones was sent from the file.
    sent = [line for line in nginx.log_lines_for(path, count=len(RANGE_CASES)) if "GET " in line]
    refused = sum(case.status == REFUSED for case in RANGE_CASES)
    assert sum(f"uri={_internal_uri(path.rsplit('/', 1)[1])} " in line for line in sent) == (
        len(RANGE_CASES) - refused
    ), sent


def test_forged_offer_from_an_untrusted_address_gets_the_bytes_from_dockyard(
    nginx: Nginx, dockyard: DockyardServer
) -> None:
    repo = "accel/forged"
    data = random_bytes(256 * 1024)
    with RegistryClient(dockyard.url, *dockyard.admin) as client:
        digest = client.push_blob(repo, data)
        token = client.token_for(f"repository:{repo}:pull")
    forged = {
        "Authorization": f"Bearer {token}",
        "X-Sendfile-Type": "X-Accel-Redirect",
        "X-Accel-Mapping": f"{dockyard.data_dir / 'storage' / 'blobs'}/={INTERNAL}",
    }
    # 127.0.0.2 is loopback too, but outside --trusted-proxies 127.0.0.1/32.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=dockyard.url, transport=transport, timeout=30) as direct:
        url = f"/v2/{repo}/blobs/{digest}"
        resp = direct.get(url, headers=forged)
        assert resp.status_code == 200, describe(resp)
        assert "x-accel-redirect" not in resp.headers, describe(resp)
        assert resp.content == data
        ranged = direct.get(url, headers={**forged, "Range": "bytes=10-19"})
        assert ranged.status_code == 206, describe(ranged)
        assert "x-accel-redirect" not in ranged.headers
        assert ranged.content == data[10:20]


def test_skopeo_copies_an_image_out_through_nginx(
    nginx: Nginx, dockyard: DockyardServer, tmp_path: Path
) -> None:
    sk = C.Skopeo(tmp_path / "sk")
    info = C.make_oci_layout(tmp_path / "layout", layer_size=512 * 1024, layers=2)
    ref = f"docker://{nginx.host}/accel/skopeo:v1"
    assert sk.copy(info.oci_ref, ref, dest_creds=dockyard.admin) == info.digest
    back = sk.copy(ref, f"oci:{tmp_path / 'back'}:v1", src_creds=dockyard.admin)
    assert back == info.digest
    image = info.images[0]
    for blob in [image.config, *image.layers]:
        pulled = tmp_path / "back" / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        assert C._sha256(pulled.read_bytes()) == blob.digest
        lines = nginx.log_lines_for(f"/v2/accel/skopeo/blobs/{blob.digest}")
        assert any(f"uri={_internal_uri(blob.digest)} " in line for line in lines), lines


def test_tls_front_sends_blobs_over_https(dockyard: DockyardServer, tmp_path: Path) -> None:
    """``--tls-cert/--tls-key``: nginx terminates TLS, tells Dockyard the scheme and port the
    client used (the token realm is nginx's https URL) and still sends the blob itself."""
    repo = "accel/tls"
    data = random_bytes(128 * 1024)
    with RegistryClient(dockyard.url, *dockyard.admin) as client:
        digest = client.push_blob(repo, data)
    ca, cert, key = make_test_ca(tmp_path / "ca")
    front = Nginx(tmp_path / "nginx", dockyard, tls=(cert, key))
    try:
        assert f"listen {front.host} ssl;" in front.front
        with httpx.Client(
            base_url=front.url, verify=ssl.create_default_context(cafile=ca), timeout=30
        ) as https:
            challenge = expect(https.get("/v2/"), 401).headers["www-authenticate"]
            assert f'realm="https://{front.host}/auth/token"' in challenge, challenge
            token = https.get(
                "/auth/token",
                params={"service": "dockyard", "scope": f"repository:{repo}:pull"},
                auth=dockyard.admin,
            ).json()["token"]
            path = f"/v2/{repo}/blobs/{digest}"
            blob = expect(https.get(path, headers={"Authorization": f"Bearer {token}"}), 200)
            assert blob.content == data
            assert blob.headers["docker-content-digest"] == digest
        (line,) = front.log_lines_for(path)
        assert f"uri={_internal_uri(digest)} " in line, line
        assert line.endswith("upstream_bytes=0"), line
    finally:
        front.stop()
