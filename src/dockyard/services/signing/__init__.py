"""Signing and verification (PRODUCT.md §8): the Grafeas-style metadata service (metadata
namespaces, attestation notes, occurrences, public keys) and image verification with real
GnuPG."""

from dockyard.services.signing.rules import image_url
from dockyard.services.signing.service import SigningService
from dockyard.services.signing.views import (
    ATTESTATION,
    NamespaceView,
    NoteSpec,
    NoteView,
    OccurrenceSpec,
    OccurrenceView,
    PublicKeyView,
    SignatureCheck,
    SignatureSpec,
    Verification,
)

__all__ = [
    "ATTESTATION",
    "NamespaceView",
    "NoteSpec",
    "NoteView",
    "OccurrenceSpec",
    "OccurrenceView",
    "PublicKeyView",
    "SignatureCheck",
    "SignatureSpec",
    "SigningService",
    "Verification",
    "image_url",
]
