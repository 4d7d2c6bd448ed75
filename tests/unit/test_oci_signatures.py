"""cosign and Notation signatures checked from their published formats (issue 19): the
signatures are built here with ``cryptography`` (tests/oci_signatures.py), as no cosign or
notation binary exists; each failure has its exact reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests import oci_signatures as S

from dockyard.errors import InvalidInputError
from dockyard.metadata.models import SignaturePolicy
from dockyard.services.signing import Admission, PolicyOutcome
from dockyard.services.signing.native import oci_satisfies, with_oci_signatures
from dockyard.services.signing.oci import (
    BROKEN_CHAIN,
    EXPIRED_CERTIFICATE,
    TrustedKey,
    key_fingerprint,
    read_pem_key,
    verify_cosign,
    verify_notation,
)
from dockyard.services.signing.views import OciSignatureCheck

IMAGE = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
TARGET = {"mediaType": S.OCI_MANIFEST, "digest": IMAGE, "size": 527}


def trusted(pem: str, namespace: str = "sigs") -> TrustedKey:
    return TrustedKey(namespace, read_pem_key(pem).fingerprint, pem)


def cosign_parts(key: ec.EllipticCurvePrivateKey, digest: str = IMAGE) -> tuple[bytes, str]:
    artifact = S.cosign_signature(key, "registry.example/ns/app", digest)
    layer = artifact.blobs[1]
    assert layer.annotations is not None
    return layer.data, layer.annotations["dev.cosignproject.cosign/signature"]


def test_a_pem_key_and_its_certificate_have_one_fingerprint() -> None:
    leaf_key, chain = S.certificate_chain()
    by_key = read_pem_key(S.public_pem(leaf_key))
    by_cert = read_pem_key(S.certificate_pem(chain[0]))
    assert by_key.fingerprint == by_cert.fingerprint == key_fingerprint(leaf_key.public_key())
    assert len(by_key.fingerprint) == 64 and by_key.fingerprint.isupper()
    assert (by_key.user_id, by_key.expires_at) == ("", None)
    assert by_cert.user_id == "CN=dockyard-signer"
    assert by_cert.expires_at == chain[0].not_valid_after_utc


def test_a_pem_block_that_is_no_key_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a PEM public key"):
        read_pem_key("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    with pytest.raises(InvalidInputError, match="not a PEM x509 certificate"):
        read_pem_key("-----BEGIN CERTIFICATE-----\nbm90IGEga2V5\n-----END CERTIFICATE-----\n")


def test_a_cosign_signature_by_a_registered_key_is_valid() -> None:
    key = S.ec_key()
    payload, signature = cosign_parts(key)
    others = [trusted(S.public_pem(S.ec_key()), "a"), trusted(S.public_pem(key), "b")]
    outcome = verify_cosign(payload, signature, IMAGE, others)
    assert (outcome.valid, outcome.namespace, outcome.key) == (True, "b", others[1].fingerprint)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unregistered key", "unknown key"),
        ("no annotation", "bad signature: no base64 signature annotation"),
        ("not simple signing", "bad signature: not a simple-signing payload"),
        ("another digest", f"payload names another digest ({OTHER})"),
        ("signature of another payload", "unknown key"),
    ],
)
def test_a_cosign_signature_that_fails_says_why(case: str, reason: str) -> None:
    key = S.ec_key()
    keys = [trusted(S.public_pem(key))]
    payload, signature = cosign_parts(key, OTHER if case == "another digest" else IMAGE)
    if case == "unregistered key":
        keys = [trusted(S.public_pem(S.ec_key()))]
    elif case == "no annotation":
        signature = ""
    elif case == "not simple signing":
        payload = b'{"critical": {"type": "something else"}}'
    elif case == "signature of another payload":
        _payload, signature = cosign_parts(key, OTHER)
    outcome = verify_cosign(payload, signature, IMAGE, keys)
    assert (outcome.valid, outcome.reason) == (False, reason)


@pytest.mark.parametrize("rsa_leaf", [False, True], ids=["ES256", "PS256"])
@pytest.mark.parametrize("anchor", ["root", "leaf"])
def test_a_notation_signature_anchored_in_a_registered_certificate_is_valid(
    rsa_leaf: bool, anchor: str
) -> None:
    leaf_key, chain = S.certificate_chain(rsa_leaf=rsa_leaf)
    envelope = S.notation_envelope(leaf_key, chain, TARGET)
    registered = trusted(S.certificate_pem(chain[1 if anchor == "root" else 0]))
    outcome = verify_notation(envelope, IMAGE, [registered], datetime.now(UTC))
    assert (outcome.reason, outcome.key) == (None, registered.fingerprint)


def _tampered(envelope: bytes) -> bytes:
    doc = json.loads(envelope)
    payload = {"targetArtifact": {**TARGET, "size": 1}}
    doc["payload"] = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unregistered chain", "unknown key"),
        ("tampered payload", "bad signature"),
        ("another digest", f"payload names another digest ({OTHER})"),
        ("expired certificate", EXPIRED_CERTIFICATE),
        ("leaf of another root", BROKEN_CHAIN),
        ("not JSON", "bad signature: malformed JWS envelope"),
    ],
)
def test_a_notation_signature_that_fails_says_why(case: str, reason: str) -> None:
    leaf_key, chain = S.certificate_chain()
    if case == "expired certificate":
        leaf_key, chain = S.certificate_chain(days=30, not_before=datetime(2020, 1, 1, tzinfo=UTC))
    target = {**TARGET, "digest": OTHER} if case == "another digest" else TARGET
    envelope = S.notation_envelope(leaf_key, chain, target)
    keys = [trusted(S.certificate_pem(chain[1]))]
    if case == "unregistered chain":
        keys = [trusted(S.certificate_pem(S.certificate_chain()[1][1]))]
    elif case == "tampered payload":
        envelope = _tampered(envelope)
    elif case == "leaf of another root":
        other_root = S.certificate_chain()[1][1]
        envelope = S.notation_envelope(leaf_key, [chain[0], other_root], target)
        keys = [trusted(S.certificate_pem(other_root))]
    elif case == "not JSON":
        envelope = b"{not json"
    outcome = verify_notation(envelope, IMAGE, keys, datetime.now(UTC) + timedelta(seconds=1))
    assert not outcome.valid and outcome.reason is not None
    assert outcome.reason.startswith(reason) if case == "not JSON" else outcome.reason == reason


def policy(keys: list[str]) -> SignaturePolicy:
    return SignaturePolicy(
        name="signed", note_namespace="sigs", note_name="image-sign", key_fingerprints=keys
    )


def oci_check(
    key: str | None, namespace: str = "sigs", reason: str | None = None
) -> OciSignatureCheck:
    return OciSignatureCheck(
        "cosign", "sha256:" + "c" * 64, IMAGE, None, namespace, key, reason is None, reason
    )


KEY = "F" * 64


@pytest.mark.parametrize(
    ("keys", "checks", "satisfied"),
    [
        ([KEY], [oci_check(KEY)], True),
        ([], [oci_check(KEY)], False),  # no keys named: the note, which only occurrences carry
        ([KEY], [oci_check(KEY, namespace="other")], False),  # the key registered elsewhere
        ([KEY], [oci_check(None, reason="unknown key")], False),
        (["E" * 64], [oci_check(KEY)], False),
    ],
    ids=["by-a-named-key", "no-keys-named", "other-namespace", "invalid", "another-key"],
)
def test_a_policy_naming_keys_is_satisfied_by_a_valid_oci_signature_by_one(
    keys: list[str], checks: list[OciSignatureCheck], satisfied: bool
) -> None:
    assert oci_satisfies(policy(keys), checks) is satisfied
    refused = PolicyOutcome("signed", True, False, ["no signature of note sigs/image-sign"])
    admission = with_oci_signatures(
        Admission("ns/app", IMAGE, False, [refused]), [policy(keys)], checks
    )
    assert admission.admitted is satisfied and admission.oci_signatures == checks
    if satisfied:
        reason = f"cosign signature {'sha256:' + 'c' * 64} by {KEY}"
        assert admission.policies == [PolicyOutcome("signed", True, True, [reason])]
    else:
        assert admission.policies == [refused]
