"""What the faces see of the metadata service and of verification, and what they send.

Field names follow the guide's PascalCase shapes at the faces; here they are plain Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ATTESTATION = "ATTESTATION"


@dataclass(frozen=True, slots=True)
class NamespaceView:
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NoteSpec:
    """A new note: ``path`` (the note's ``name``), when given, must name the same note."""

    name: str
    path: str | None = None
    kind: str = ATTESTATION
    short_description: str = ""
    long_description: str = ""
    expiration_time: datetime | None = None
    human_readable_name: str = ""


@dataclass(frozen=True, slots=True)
class NoteView:
    namespace: str
    name: str
    kind: str
    short_description: str
    long_description: str
    expiration_time: datetime | None
    human_readable_name: str
    created_at: datetime

    @property
    def path(self) -> str:
        return f"/namespaces/{self.namespace}/notes/{self.name}"


@dataclass(frozen=True, slots=True)
class SignatureSpec:
    signature: str
    public_key_id: str


@dataclass(frozen=True, slots=True)
class OccurrenceSpec:
    """A new occurrence: ``path`` (its ``Name``), when given, must end in ``name``."""

    name: str
    note_name: str
    resource_uri: str
    signatures: list[SignatureSpec]
    path: str | None = None
    kind: str = ATTESTATION


@dataclass(frozen=True, slots=True)
class OccurrenceView:
    namespace: str
    name: str
    note_name: str
    resource_uri: str
    kind: str
    signatures: list[SignatureSpec]
    created_at: datetime

    @property
    def path(self) -> str:
        return f"/namespaces/{self.namespace}/occurrences/{self.name}"


@dataclass(frozen=True, slots=True)
class PublicKeyView:
    namespace: str
    fingerprint: str
    user_id: str
    expiration_time: datetime | None
    public_key: str
    created_at: datetime

    @property
    def key_type(self) -> str:
        """``OpenPGP`` (occurrences), ``PEM`` or ``X509`` (cosign and Notation signatures)."""
        if "-----BEGIN CERTIFICATE-----" in self.public_key:
            return "X509"
        return "PEM" if "-----BEGIN PUBLIC KEY-----" in self.public_key else "OpenPGP"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One signature of one occurrence: valid, or why not (``reason``)."""

    namespace: str
    occurrence: str
    #: The image the occurrence signs (an index's, when a child is checked through it).
    digest: str
    note: str
    public_key_id: str
    #: The fingerprint gpg found the message signed with, when it could tell.
    signer: str | None
    user_id: str | None
    valid: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class OciSignatureCheck:
    """One cosign or Notation signature stored in the registry over an image: valid (by
    ``key``, registered in metadata namespace ``namespace``), or why not (``reason``)."""

    #: ``cosign`` or ``notation``.
    type: str
    #: The signature manifest's digest.
    manifest: str
    #: The image it signs (an index's, when a child is checked through it).
    digest: str
    #: cosign's ``sha256-<hex>.sig`` tag, when it is stored under one.
    tag: str | None
    namespace: str | None
    key: str | None
    valid: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class Verification:
    """Every signature found for one image, and whether at least one is valid."""

    repository: str
    digest: str
    resource_uri: str
    verified: bool
    signatures: list[SignatureCheck]
    #: cosign and Notation signatures stored in the registry over the image.
    oci_signatures: list[OciSignatureCheck] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SignaturePolicySpec:
    """A new policy: ``namespace`` or ``repository`` (a full name), not both; ``note`` is
    ``<metadata namespace>/<note>``; no ``keys``: any key registered beside the note."""

    name: str
    note: str
    namespace: str | None = None
    repository: str | None = None
    keys: list[str] | None = None
    tags: str | None = None


@dataclass(frozen=True, slots=True)
class SignaturePolicyView:
    name: str
    namespace: str | None
    repository: str | None
    note: str
    keys: list[str]
    tags: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """One policy over one pull: whether it applies (its tag pattern), is satisfied, why not."""

    policy: str
    applies: bool
    satisfied: bool
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class Admission:
    repository: str
    digest: str
    admitted: bool
    policies: list[PolicyOutcome]
    #: cosign and Notation signatures over the image or an index listing it.
    oci_signatures: list[OciSignatureCheck] = field(default_factory=list)
