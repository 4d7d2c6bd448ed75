"""`dockyard serve` as an operator meets it: first start, TLS, no-auth mode, readiness,
upload sessions across restarts, and abandoned uploads being reclaimed."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import DockyardServer, ServerFactory, free_port

pytestmark = pytest.mark.e2e


def test_generated_admin_password_is_shown_once_and_never_logged(
    fresh_registry: ServerFactory,
) -> None:
    server = fresh_registry(env={"DOCKYARD_ADMIN_PASSWORD": ""})
    text = server.log_text()
    line = next(x for x in text.splitlines() if "Password (shown only now):" in x)
    password = line.split(":", 1)[1].strip()
    assert len(password) >= 16
    # Printed once, on the terminal, and never inside a structured (JSON) log line.
    assert text.count(password) == 1
    for log_line in text.splitlines():
        if log_line.startswith("{"):
            assert password not in log_line
    assert httpx.get(f"{server.url}/v2/", auth=("admin", password)).status_code == 200
    assert httpx.get(f"{server.url}/v2/", auth=("admin", password + "x")).status_code == 401
    # A second start on the same data keeps the administrator and prints nothing new.
    server.stop()
    server.start()
    assert server.log_text().count("Password (shown only now):") == 1
    assert httpx.get(f"{server.url}/v2/", auth=("admin", password)).status_code == 200


def test_health_and_readiness(registry: DockyardServer) -> None:
    assert httpx.get(f"{registry.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{registry.url}/readyz").json() == {"status": "ready"}
    jwks = httpx.get(f"{registry.url}/auth/jwks.json").json()
    assert jwks["keys"] and all("kid" in k and "d" not in k for k in jwks["keys"])


def _mapped_files(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split()[-1] for line in maps if "/" in line}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_the_serving_parent_loads_nothing_heavy(registry: DockyardServer) -> None:
    """`serve` migrates and bootstraps, then becomes a lean supervisor (same PID): it carries
    neither the CLI, Alembic nor the app; nor does the Granian server its HTTP workers are
    forked from. The application lives in the HTTP and background workers."""
    assert registry.proc is not None
    parent = registry.proc.pid
    cmdline = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    assert b"dockyard.supervisor" in cmdline
    heavy = ("sqlalchemy", "pydantic_core", "cryptography", "argon2", "orjson")
    parent_files = _mapped_files(parent)
    assert not [f for f in parent_files if any(h in f for h in (*heavy, "granian"))]
    roles = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _children(parent)}
    (http,) = [pid for pid, cmd in roles.items() if cmd.endswith(b"dockyard.supervisor\0http\0")]
    background = [pid for pid, cmd in roles.items() if b"dockyard.background" in cmd]
    assert len(background) == 1  # the default
    http_files = _mapped_files(http)
    assert any("granian" in f for f in http_files)
    assert not [f for f in http_files if any(h in f for h in heavy)]
    workers = _children(http)
    assert len(workers) == registry.workers
    for worker in [*workers, *background]:
        assert any("pydantic_core" in f for f in _mapped_files(worker))
    assert httpx.get(f"{registry.url}/healthz").json() == {"status": "ok"}


def test_readiness_turns_red_when_storage_breaks(fresh_registry: ServerFactory) -> None:
    server = fresh_registry()
    probe = server.data_dir / "storage" / "probe"
    shutil.rmtree(probe)
    probe.write_bytes(b"not a directory")  # the storage probe can no longer write
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive, just not ready
    probe.unlink()
    probe.mkdir()
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_insecure_no_auth_serves_everyone_and_warns(fresh_registry: ServerFactory) -> None:
    server = fresh_registry(extra_args=["--insecure-no-auth"])
    assert httpx.get(f"{server.url}/v2/").status_code == 200
    data = b"anonymous blob"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = httpx.post(
        f"{server.url}/v2/open/box/blobs/uploads/", params={"digest": digest}, content=data
    )
    assert r.status_code == 201
    assert httpx.get(f"{server.url}/v2/open/box/blobs/{digest}").content == data
    warnings = [json.loads(x) for x in server.log_text().splitlines() if x.startswith("{")]
    assert any(w["level"] == "warning" and "DISABLED" in w["event"] for w in warnings)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = DockyardServer(
        tmp_path / "srv", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)]
    )
    server.port = free_port()
    server._spawn()
    try:
        url = f"https://127.0.0.1:{server.port}"
        trust = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{url}/v2/", verify=trust)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.2)
        assert response.status_code == 401
        assert f'realm="{url}/auth/token"' in response.headers["www-authenticate"]
        assert httpx.get(f"{url}/v2/", auth=server.admin, verify=trust).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/v2/")  # an unknown CA is refused by the client
    finally:
        server.stop()


def test_upload_session_survives_restart(fresh_registry: ServerFactory) -> None:
    server = fresh_registry()
    auth = server.admin
    data = bytes(range(256)) * 4096  # 1 MiB
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{server.url}/v2/keep/going/blobs/uploads/", auth=auth)
    location = r.headers["location"]
    half = len(data) // 2
    r = httpx.patch(
        location,
        content=data[:half],
        auth=auth,
        headers={"Content-Range": f"0-{half - 1}", "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202
    server.stop()
    server.start()
    location = location.replace(location.split("/v2/")[0], server.url)
    status = httpx.get(location, auth=auth)
    assert status.status_code == 204 and status.headers["range"] == f"0-{half - 1}"
    r = httpx.patch(
        location,
        content=data[half:],
        auth=auth,
        headers={
            "Content-Range": f"{half}-{len(data) - 1}",
            "Content-Type": "application/octet-stream",
        },
    )
    assert r.status_code == 202
    r = httpx.put(r.headers["location"], params={"digest": digest}, auth=auth)
    assert r.status_code == 201
    assert httpx.get(f"{server.url}/v2/keep/going/blobs/{digest}", auth=auth).content == data


def test_abandoned_uploads_expire_and_bytes_are_reclaimed(fresh_registry: ServerFactory) -> None:
    server = fresh_registry(
        env={
            "DOCKYARD_UPLOAD_TTL_HOURS": str(1 / 3600),  # one second
            "DOCKYARD_UPLOAD_PURGE_INTERVAL_SECONDS": "0.5",
        }
    )
    auth = server.admin
    r = httpx.post(f"{server.url}/v2/left/behind/blobs/uploads/", auth=auth)
    location = r.headers["location"]
    r = httpx.patch(
        location,
        content=b"x" * 1000,
        auth=auth,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202
    uploads = server.data_dir / "storage" / "uploads"
    deadline = time.monotonic() + 30
    while any(uploads.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(uploads.iterdir()), "abandoned upload bytes were not reclaimed"
    response = httpx.get(location, auth=auth)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_db_upgrade_command_reports_up_to_date(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "dockyard.db").exists()


def test_trusted_proxy_headers_shape_realm_and_location(fresh_registry: ServerFactory) -> None:
    server = fresh_registry(extra_args=["--trusted-proxies", "127.0.0.0/8"])
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"}
    challenge = httpx.get(f"{server.url}/v2/", headers=forwarded).headers["www-authenticate"]
    assert 'realm="https://registry.example.com/auth/token"' in challenge
    started = httpx.post(
        f"{server.url}/v2/behind/proxy/blobs/uploads/", headers=forwarded, auth=server.admin
    )
    assert started.headers["location"].startswith("https://registry.example.com/v2/behind/proxy/")


def test_untrusted_forwarded_headers_are_ignored(registry: DockyardServer) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.com"}
    challenge = httpx.get(f"{registry.url}/v2/", headers=forwarded).headers["www-authenticate"]
    assert f'realm="{registry.url}/auth/token"' in challenge
