"""OpenPGP through real GnuPG, each call in its own temporary GNUPGHOME: the server's own
keyring (if any) is never read, and keys of one metadata namespace never vouch for
another's signatures. Blocking (gpg is a subprocess): callers run these in a thread."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gnupg

from dockyard.errors import InvalidInputError

#: Why a signature is not valid, as verification reports it.
UNKNOWN_KEY = "unknown key"
EXPIRED_KEY = "expired key"
REVOKED_KEY = "revoked key"
BAD_SIGNATURE = "bad signature"


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    fingerprint: str
    user_id: str
    expires_at: datetime | None
    armored: str


@dataclass(frozen=True, slots=True)
class SignedText:
    """What gpg made of an inline signed message: the text signed, the signer's
    fingerprint when gpg could tell it, and None or why the signature is not valid."""

    text: bytes
    signer: str | None
    failure: str | None


def read_public_key(armored: str) -> PublicKeyInfo:
    """The one public key in ``armored`` (an ASCII-armored OpenPGP public key block)."""
    with tempfile.TemporaryDirectory(prefix="dockyard-gpg-") as home:
        gpg = _gpg(home)
        imported = gpg.import_keys(armored)
        fingerprints = list(imported.fingerprints or ())
        if not fingerprints or gpg.list_keys(True):
            # A block with a secret key is refused: only public keys are registered.
            detail = "it holds a secret key" if fingerprints else "gpg could not import it"
            raise InvalidInputError(f"PublicKey is not an OpenPGP public key: {detail}")
        keys = gpg.list_keys()
        if len(keys) != 1:
            raise InvalidInputError("PublicKey must hold exactly one OpenPGP public key")
        key: dict[str, Any] = keys[0]
        exported = str(gpg.export_keys(key["fingerprint"], armor=True))
    expires = str(key.get("expires") or "")
    uids = [str(uid) for uid in key.get("uids") or ()]
    return PublicKeyInfo(
        fingerprint=str(key["fingerprint"]),
        user_id=uids[0] if uids else "",
        expires_at=datetime.fromtimestamp(int(expires), UTC) if expires else None,
        armored=exported,
    )


@functools.lru_cache(maxsize=1024)
def open_signed(message: str, public_keys: tuple[str, ...]) -> SignedText:
    """Check the inline signed ``message`` against ``public_keys`` (armored) only.

    Remembered per process (gpg costs tens of milliseconds, and a gated pull checks every
    signature over the image): the answer for one message and one set of key blocks only
    changes when a key expires meanwhile, which the caller checks against the key's
    expiry itself; a revoked or renewed key is a new key block, so a new question."""
    with tempfile.TemporaryDirectory(prefix="dockyard-gpg-") as home:
        gpg = _gpg(home)
        for armored in public_keys:
            gpg.import_keys(armored)
        result = gpg.decrypt(message)
    signer = str(result.fingerprint) if result.fingerprint else None
    text = bytes(result.data or b"")
    if result.valid:
        return SignedText(text, signer, None)
    key_status = str(getattr(result, "key_status", None) or "")
    status = str(result.status or "")
    if "revoked" in key_status or "revoked" in status:
        return SignedText(text, signer, REVOKED_KEY)
    if "expired" in key_status or "expired" in status:
        return SignedText(text, signer, EXPIRED_KEY)
    if status == "no public key":
        return SignedText(text, signer, UNKNOWN_KEY)
    return SignedText(text, signer, BAD_SIGNATURE)


def _gpg(home: str) -> Any:
    return gnupg.GPG(gnupghome=home)
