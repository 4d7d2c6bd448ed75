"""Signing and verification (PRODUCT.md §8): the Grafeas-style metadata service (metadata
namespaces, attestation notes, occurrences, public keys) and image verification with real
GnuPG."""

from dockyard.services.signing.policies import SignaturePolicyService
from dockyard.services.signing.service import SigningService
from dockyard.services.signing.views import (
    ATTESTATION,
    Admission,
    NamespaceView,
    NoteSpec,
    NoteView,
    OccurrenceSpec,
    OccurrenceView,
    PolicyOutcome,
    PublicKeyView,
    SignatureCheck,
    SignaturePolicySpec,
    SignaturePolicyView,
    SignatureSpec,
    Verification,
)

__all__ = [
    "ATTESTATION",
    "Admission",
    "NamespaceView",
    "NoteSpec",
    "NoteView",
    "OccurrenceSpec",
    "OccurrenceView",
    "PolicyOutcome",
    "PublicKeyView",
    "SignatureCheck",
    "SignaturePolicyService",
    "SignaturePolicySpec",
    "SignaturePolicyView",
    "SignatureSpec",
    "SigningService",
    "Verification",
]
