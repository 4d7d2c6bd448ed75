"""TLS end to end with real clients that verify the server: a test CA issues the server
certificate for 127.0.0.1, ``dockyard serve --tls-cert/--tls-key`` serves HTTPS, and
podman (``--cert-dir``) and skopeo (``--src-cert-dir``/``--dest-cert-dir``) push and pull
trusting only that CA, never with ``--tls-verify=false``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.conftest import READY_TIMEOUT, DockyardServer, ServerStartError
from tests.e2e import clients as C

pytestmark = [pytest.mark.e2e, pytest.mark.clients]


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for 127.0.0.1: (ca.crt, server.crt, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dockyard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem_key(key))
    return ca_path, cert_path, key_path


class HttpsDockyardServer(DockyardServer):
    """A :class:`DockyardServer` serving HTTPS; readiness is checked trusting ``ca_file``."""

    def __init__(self, base_dir: Path, ca_file: Path, cert: Path, key: Path) -> None:
        super().__init__(base_dir, extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
        self.trust = ssl.create_default_context(cafile=str(ca_file))

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no response"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ServerStartError(f"dockyard exited early with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(
                    f"{self.url}/readyz", timeout=2, context=self.trust
                ) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (OSError, urllib.error.URLError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise ServerStartError(f"dockyard not ready after {READY_TIMEOUT}s (last: {last})")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[HttpsDockyardServer, Path]]:
    """The server and a cert dir holding only ``ca.crt`` (what podman/skopeo read)."""
    ca, cert, key = make_test_ca(tmp_path / "pki")
    cert_dir = tmp_path / "certs.d"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(ca.read_bytes())
    server = HttpsDockyardServer(tmp_path / "srv", ca, cert, key)
    server.start()
    try:
        yield server, cert_dir
    finally:
        server.stop()


def test_real_clients_over_https_trusting_a_test_ca(
    tls_server: tuple[HttpsDockyardServer, Path], tmp_path: Path
) -> None:
    server, cert_dir = tls_server
    host, admin = server.host, server.admin

    # The token realm names the HTTPS endpoint.
    challenge = httpx.get(f"{server.url}/v2/", verify=server.trust)
    assert challenge.status_code == 401
    assert f'realm="https://{host}/auth/token"' in challenge.headers["www-authenticate"]

    sk = C.Skopeo(tmp_path / "skopeo", cert_dir=cert_dir)
    info = C.make_oci_layout(tmp_path / "layout", layer_size=256 * 1024, layers=2)
    assert sk.copy(info.oci_ref, f"docker://{host}/tls/app:v1", dest_creds=admin) == info.digest
    assert C._sha256(sk.inspect_raw(f"docker://{host}/tls/app:v1", creds=admin)) == info.digest
    assert sk.list_tags(f"docker://{host}/tls/app", creds=admin) == ["v1"]
    back = sk.copy(f"docker://{host}/tls/app:v1", f"oci:{tmp_path / 'back'}:v1", src_creds=admin)
    assert back == info.digest

    with C.Podman(tmp_path / "podman", cert_dir=cert_dir) as podman:
        podman.login(host, *admin)
        podman.pull(f"{host}/tls/app:v1")
        assert podman.image_digest(f"{host}/tls/app:v1") == info.digest
        pushed = podman.push(f"{host}/tls/app:v1", f"{host}/tls/podman:v1")
    assert C._sha256(sk.inspect_raw(f"docker://{host}/tls/podman:v1", creds=admin)) == pushed

    # The clients really verify: with a cert dir lacking our CA, they refuse the server.
    empty = tmp_path / "no-ca"
    empty.mkdir()
    stranger = C.Skopeo(tmp_path / "stranger", cert_dir=empty)
    with pytest.raises(C.ClientError) as refused:
        stranger.inspect_raw(f"docker://{host}/tls/app:v1", creds=admin)
    assert "certificate" in str(refused.value).lower()
    with (
        C.Podman(tmp_path / "podman-stranger", cert_dir=empty) as podman,
        pytest.raises(C.ClientError) as refused,
    ):
        podman.pull(f"{host}/tls/app:v1", creds=admin)
    assert "certificate" in str(refused.value).lower()
