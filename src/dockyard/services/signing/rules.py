"""The shapes the metadata service accepts: names, note and occurrence paths, image URLs
(``image://<region>/<instanceId>/<namespace>/<repository>@<digest>``) and signatures.
Every refusal names the field, as the guide's call shapes spell it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidInputError
from dockyard.services.signing.views import ATTESTATION, SignatureSpec

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_OCCURRENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_FINGERPRINT = re.compile(r"^(?:[0-9A-F]{16}|[0-9A-F]{40}|[0-9A-F]{64})$")
_IMAGE = re.compile(
    r"^image://(?P<region>[^/\s]+)/(?P<instance>[^/\s]+)/(?P<namespace>[^/\s]+)/"
    r"(?P<repository>[^/@\s]+)@(?P<digest>sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$"
)
#: An armored OpenPGP message of an image URL is well under 1 KiB; this bounds a row.
MAX_SIGNATURE_BYTES = 16 * 1024
MAX_SIGNATURES = 16
ARMOR_BEGIN = "-----BEGIN PGP MESSAGE-----"


@dataclass(frozen=True, slots=True)
class ImageUrl:
    region: str
    instance_id: str
    namespace: str
    repository: str
    digest: str

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.repository}"


def image_url(region: str, instance_id: str, full_name: str, digest: str) -> str:
    """The URL a publisher signs for ``full_name@digest`` in this instance."""
    return f"image://{region}/{instance_id}/{full_name}@{digest}"


def check_name(value: str, field: str) -> str:
    if not _NAME.fullmatch(value):
        raise InvalidInputError(
            f"{field} must be 1-64 of letters, digits, '.', '_' and '-' (starting with a "
            f"letter or digit), got {value!r}"
        )
    return value


def check_occurrence_name(value: str) -> str:
    if not _OCCURRENCE.fullmatch(value):
        raise InvalidInputError(
            "OccurrenceName must be 1-128 of letters, digits, '.', '_' and '-' (starting with "
            f"a letter or digit), got {value!r}"
        )
    return value


def check_kind(value: str, field: str) -> str:
    if value != ATTESTATION:
        raise InvalidInputError(f"{field} must be {ATTESTATION}, got {value!r}")
    return value


def note_of_path(namespace: str, value: str, field: str) -> str:
    """The note a ``NoteName`` names: the short name or ``/namespaces/<ns>/notes/<note>``."""
    if not value.startswith("/"):
        return check_name(value, field)
    parts = value.split("/")
    if len(parts) != 5 or parts[1] != "namespaces" or parts[3] != "notes":
        raise InvalidInputError(
            f"{field} must be a note name or /namespaces/<namespace>/notes/<note>, got {value!r}"
        )
    if parts[2] != namespace:
        raise InvalidInputError(f"{field} names metadata namespace {parts[2]}, not {namespace}")
    return check_name(parts[4], field)


def check_occurrence_path(namespace: str, name: str, path: str | None) -> None:
    """``Occurrence.Name`` is ``/namespaces/<ns>/occurrences/<OccurrenceName>``."""
    expected = f"/namespaces/{namespace}/occurrences/{name}"
    if path is not None and path != expected:
        raise InvalidInputError(
            f"Occurrence.Name must be {expected} (its last segment is the OccurrenceName), "
            f"got {path!r}"
        )


def check_note_path(namespace: str, name: str, path: str | None) -> None:
    expected = f"/namespaces/{namespace}/notes/{name}"
    if path is not None and path != expected:
        raise InvalidInputError(f"Note.name must be {expected}, got {path!r}")


def parse_image_url(value: str, field: str = "ResourceUri") -> ImageUrl:
    match = _IMAGE.fullmatch(value)
    if match is None:
        raise InvalidInputError(
            f"{field} must be image://<region>/<instanceId>/<namespace>/<repository>@<digest>"
            f" (digest sha256:<64 hex>), got {value[:300]!r}"
        )
    return ImageUrl(
        match["region"], match["instance"], match["namespace"], match["repository"], match["digest"]
    )


def check_signatures(signatures: list[SignatureSpec]) -> list[SignatureSpec]:
    """Armored messages of bounded size and fingerprint key ids (upper-cased)."""
    if not signatures:
        raise InvalidInputError("Occurrence.Attestation.Signatures must hold a signature")
    if len(signatures) > MAX_SIGNATURES:
        raise InvalidInputError(
            f"Occurrence.Attestation.Signatures holds at most {MAX_SIGNATURES} signatures"
        )
    checked = []
    for index, spec in enumerate(signatures):
        field = f"Occurrence.Attestation.Signatures[{index}]"
        if len(spec.signature.encode()) > MAX_SIGNATURE_BYTES:
            raise InvalidInputError(f"{field}.Signature is larger than {MAX_SIGNATURE_BYTES} bytes")
        if not spec.signature.isascii() or not spec.signature.lstrip().startswith(ARMOR_BEGIN):
            raise InvalidInputError(
                f"{field}.Signature must be an ASCII-armored OpenPGP message "
                f"(gpg --armor --sign), starting {ARMOR_BEGIN}"
            )
        key_id = spec.public_key_id.strip().replace(" ", "").upper()
        if not _FINGERPRINT.fullmatch(key_id):
            raise InvalidInputError(
                f"{field}.PublicKeyId must be an OpenPGP key fingerprint (40 hex digits), "
                f"got {spec.public_key_id[:100]!r}"
            )
        checked.append(SignatureSpec(spec.signature, key_id))
    return checked


def check_fingerprint(value: str) -> str:
    key_id = value.strip().replace(" ", "").upper()
    if not _FINGERPRINT.fullmatch(key_id):
        raise InvalidInputError(
            "fingerprint must be 40 hex digits (OpenPGP) or 64 (a PEM key's SHA-256), "
            f"got {value[:100]!r}"
        )
    return key_id
