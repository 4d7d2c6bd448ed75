"""OCI-native signatures stored in the registry (PRODUCT.md §8): cosign's keyed
simple-signing signatures and Notation's JWS envelopes, read from their published formats
and checked with ``cryptography`` against registered PEM public keys and x509
certificates. Pure functions over bytes: the service finds the manifests and blobs.

cosign: a layer of media type ``application/vnd.dev.cosign.simplesigning.v1+json`` is the
payload (``critical.image.docker-manifest-digest`` names the image), and its annotation
``dev.cosignproject.cosign/signature`` the base64 ECDSA signature over the payload's
bytes. A keyed signature names no key, so a signature no registered key verifies is
"unknown key" (a changed payload would change the layer's digest, so the registry's
content addressing already rules out a tampered payload).

Notation: the layer of media type ``application/jose+json`` is a JWS in JSON
serialization; its protected header names the algorithm and the payload type, its
unprotected ``x5c`` the signing certificate chain (leaf first), its payload
``targetArtifact`` the image. The leaf's key must verify the signature, each certificate
must be issued by the next, and one certificate of the chain must be registered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dockyard.errors import InvalidInputError
from dockyard.services.signing.gpg import BAD_SIGNATURE, UNKNOWN_KEY, PublicKeyInfo

COSIGN = "cosign"
NOTATION = "notation"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
JWS_ENVELOPE = "application/jose+json"
NOTARY_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json"
#: The largest payload or envelope read (a simple-signing payload is ~250 bytes, a JWS
#: with a three-certificate chain a few KiB).
MAX_SIGNATURE_BLOB_BYTES = 256 * 1024

#: Why an OCI-native signature is not valid (besides gpg's UNKNOWN_KEY, BAD_SIGNATURE).
OTHER_DIGEST = "payload names another digest"
EXPIRED_CERTIFICATE = "expired certificate"
BROKEN_CHAIN = "certificate chain does not verify"
PEM_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----"
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"

_JWS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A registered PEM public key or certificate, with the metadata namespace it is in."""

    namespace: str
    fingerprint: str
    pem: str


@dataclass(frozen=True, slots=True)
class NativeOutcome:
    """One signature checked: the key that verified it, or why it is not valid."""

    namespace: str | None
    key: str | None
    reason: str | None

    @property
    def valid(self) -> bool:
        return self.reason is None


def cosign_tag(digest: str) -> str:
    """cosign's tag for the signatures of ``digest``: ``sha256:<hex>`` → ``sha256-<hex>.sig``."""
    return digest.replace(":", "-", 1) + ".sig"


def is_pem_key(text: str) -> bool:
    """Whether a registered key is a PEM public key or certificate (not OpenPGP)."""
    return PEM_PUBLIC_KEY in text or PEM_CERTIFICATE in text


def key_fingerprint(key: PublicKeyTypes) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, upper-case hex: the same for a key
    registered as PEM or inside its certificate."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest().upper()


def read_pem_key(text: str) -> PublicKeyInfo:
    """A PEM public key (cosign's ``cosign.pub``) or x509 certificate (Notation's trust
    store), for registration: its fingerprint, subject and expiry."""
    data = text.strip().encode()
    if PEM_CERTIFICATE in text:
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise InvalidInputError(f"PublicKey is not a PEM x509 certificate: {exc}") from None
        return PublicKeyInfo(
            fingerprint=key_fingerprint(cert.public_key()),
            user_id=cert.subject.rfc4514_string(),
            expires_at=cert.not_valid_after_utc,
            armored=text.strip() + "\n",
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInputError(f"PublicKey is not a PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InvalidInputError("PublicKey must be an ECDSA or RSA public key")
    return PublicKeyInfo(key_fingerprint(key), "", None, text.strip() + "\n")


def cosign_payload_digest(payload: bytes) -> str | None:
    """The image a simple-signing payload names, or None when it is not one."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        if critical.get("type") != COSIGN_SIGNATURE_TYPE:
            return None
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return digest if isinstance(digest, str) else None


def verify_cosign(
    payload: bytes, signature_b64: str | None, subject: str, keys: Sequence[TrustedKey]
) -> NativeOutcome:
    """A keyed cosign signature over ``payload``, which must name ``subject``."""
    try:
        signature = base64.b64decode(signature_b64 or "", validate=True)
    except (ValueError, binascii.Error):
        signature = b""
    if not signature:
        return NativeOutcome(None, None, f"{BAD_SIGNATURE}: no base64 signature annotation")
    named = cosign_payload_digest(payload)
    if named is None:
        return NativeOutcome(None, None, f"{BAD_SIGNATURE}: not a simple-signing payload")
    for trusted in keys:
        key = _public_key(trusted.pem)
        if isinstance(key, ec.EllipticCurvePublicKey) and _ecdsa_ok(
            key, signature, payload, hashes.SHA256()
        ):
            reason = None if named == subject else f"{OTHER_DIGEST} ({named})"
            return NativeOutcome(trusted.namespace, trusted.fingerprint, reason)
    return NativeOutcome(None, None, UNKNOWN_KEY)


def verify_notation(
    envelope: bytes, subject: str, keys: Sequence[TrustedKey], now: datetime
) -> NativeOutcome:
    """A Notation JWS envelope over ``subject``, by a chain one of ``keys`` anchors."""
    try:
        jws = json.loads(envelope)
        protected_b64, payload_b64 = str(jws["protected"]), str(jws["payload"])
        protected = json.loads(_b64url(protected_b64))
        payload = json.loads(_b64url(payload_b64))
        signature = _b64url(str(jws["signature"]))
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in jws["header"]["x5c"]]
        alg = str(protected["alg"])
        named = payload["targetArtifact"]["digest"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return NativeOutcome(None, None, f"{BAD_SIGNATURE}: malformed JWS envelope ({exc})")
    if not chain:
        return NativeOutcome(None, None, f"{BAD_SIGNATURE}: no certificate in x5c")
    if protected.get("cty") != NOTARY_PAYLOAD:
        return NativeOutcome(None, None, f"{BAD_SIGNATURE}: payload type is not {NOTARY_PAYLOAD}")
    signed = f"{protected_b64}.{payload_b64}".encode("ascii", "replace")
    try:
        leaf_key = chain[0].public_key()
    except (ValueError, UnsupportedAlgorithm):
        return NativeOutcome(None, None, f"{BAD_SIGNATURE}: unsupported leaf key")
    if not _jws_ok(leaf_key, alg, signature, signed):
        return NativeOutcome(None, None, BAD_SIGNATURE)
    for cert, issuer in itertools.pairwise(chain):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return NativeOutcome(None, None, BROKEN_CHAIN)
    registered = {k.fingerprint: k for k in keys}
    anchor = next(
        (
            registered[f]
            for f in (key_fingerprint(c.public_key()) for c in chain)
            if f in registered
        ),
        None,
    )
    if anchor is None:
        return NativeOutcome(None, None, UNKNOWN_KEY)
    if any(not c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in chain):
        return NativeOutcome(anchor.namespace, anchor.fingerprint, EXPIRED_CERTIFICATE)
    reason = None if named == subject else f"{OTHER_DIGEST} ({named})"
    return NativeOutcome(anchor.namespace, anchor.fingerprint, reason)


def signature_annotation(annotations: Mapping[str, str] | None) -> str | None:
    return (annotations or {}).get(COSIGN_SIGNATURE_ANNOTATION)


def _public_key(pem: str) -> Any:
    data = pem.encode()
    if PEM_CERTIFICATE in pem:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def _ecdsa_ok(
    key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, hash_: hashes.HashAlgorithm
) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hash_))
    except (InvalidSignature, ValueError):
        return False
    return True


def _jws_ok(key: PublicKeyTypes, alg: str, signature: bytes, signed: bytes) -> bool:
    """RFC 7518: ``ES*`` signatures are r‖s (each half the length), ``PS*`` RSASSA-PSS with
    the hash's length as salt length, as the Notation envelope specification requires."""
    family, bits = alg[:2], alg[2:]
    hash_type = _JWS_HASHES.get(bits)
    if hash_type is None:
        return False
    if family == "ES" and isinstance(key, ec.EllipticCurvePublicKey) and signature:
        half = len(signature) // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        return _ecdsa_ok(key, encode_dss_signature(r, s), signed, hash_type())
    if family == "PS" and isinstance(key, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=padding.PSS.DIGEST_LENGTH)
        try:
            key.verify(signature, signed, pss, hash_type())
        except InvalidSignature:
            return False
        return True
    return False


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
