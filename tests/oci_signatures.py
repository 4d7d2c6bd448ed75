"""cosign and Notation signatures built from their published formats with ``cryptography``
(no cosign or notation binary exists here): cosign's keyed simple-signing payload and
manifest (tag scheme ``sha256-<hex>.sig``, or an OCI 1.1 referrer), Notation's JWS
envelope (JSON serialization, x509 chain in the unprotected ``x5c``) and its referrer
manifest. Tests push what these build with real clients."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTATION_ARTIFACT = "application/vnd.cncf.notary.signature"
JWS = "application/jose+json"


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str
    annotations: dict[str, str] | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if self.annotations:
            out["annotations"] = self.annotations
        return out


@dataclass(frozen=True)
class Artifact:
    """A signature manifest and the blobs it names."""

    manifest: dict[str, Any]
    blobs: list[Blob]

    @property
    def body(self) -> bytes:
        return json.dumps(self.manifest, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def cosign_tag(digest: str) -> str:
    return digest.replace(":", "-", 1) + ".sig"


def cosign_payload(reference: str, digest: str) -> bytes:
    """The simple-signing payload cosign signs for ``reference@digest``."""
    doc = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def cosign_signature(
    key: ec.EllipticCurvePrivateKey,
    reference: str,
    digest: str,
    *,
    referrer: dict[str, Any] | None = None,
) -> Artifact:
    """A keyed cosign signature of ``digest``: for the tag scheme (``referrer`` None), or
    an OCI 1.1 referrer of the descriptor ``referrer``."""
    payload = cosign_payload(reference, digest)
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    layer = Blob(payload, SIMPLE_SIGNING, {"dev.cosignproject.cosign/signature": signature})
    if referrer is None:
        config = Blob(b'{"architecture":"","os":"","rootfs":{"type":"","diff_ids":[]}}', OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    else:
        config = Blob(b"{}", OCI_EMPTY)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": COSIGN_ARTIFACT,
            "subject": referrer,
        }
    manifest["config"] = config.descriptor()
    manifest["layers"] = [layer.descriptor()]
    return Artifact(manifest, [config, layer])


def certificate_chain(
    *, days: int = 365, not_before: datetime | None = None, rsa_leaf: bool = False
) -> tuple[Any, list[x509.Certificate]]:
    """A leaf signing key (P-256, or RSA 2048) and its chain ``[leaf, root]`` (the root
    self-signed)."""
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    root_key = ec_key()
    leaf_key: Any = rsa.generate_private_key(65537, 2048) if rsa_leaf else ec_key()
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dockyard Test Root")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard-signer")])

    def build(subject: x509.Name, key: Any, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256())
        )

    return leaf_key, [build(leaf_name, leaf_key, False), build(root_name, root_key, True)]


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def notation_envelope(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    chain: list[x509.Certificate],
    target: dict[str, Any],
) -> bytes:
    """A Notation JWS envelope (``ES256`` for an EC key, ``PS256`` for RSA) over the
    descriptor ``target``."""
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "PS256"
    protected = {
        "alg": alg,
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    payload = {"targetArtifact": target}
    protected_b64 = _b64url(json.dumps(protected).encode())
    payload_b64 = _b64url(json.dumps(payload).encode())
    signed = f"{protected_b64}.{payload_b64}".encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(signed, pss, hashes.SHA256())
    envelope = {
        "payload": payload_b64,
        "protected": protected_b64,
        "header": {
            "x5c": [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
            ],
            "io.cncf.notary.signingAgent": "dockyard-tests",
        },
        "signature": _b64url(signature),
    }
    return json.dumps(envelope).encode()


def notation_signature(envelope: bytes, subject: dict[str, Any]) -> Artifact:
    """Notation's referrer manifest over the descriptor ``subject``."""
    config = Blob(b"{}", OCI_EMPTY)
    layer = Blob(envelope, JWS)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": NOTATION_ARTIFACT,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
        "subject": subject,
    }
    return Artifact(manifest, [config, layer])
