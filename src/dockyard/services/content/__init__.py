"""Content: blobs, uploads, manifests and tags of repositories, the pulling-client gate, and
bulk seeding for scale tests."""

from dockyard.services.content.bulk import BulkService
from dockyard.services.content.errors import (
    BlobUnknownError,
    DigestInvalidError,
    ImmutableTagError,
    ManifestBlobUnknownError,
    ManifestUnknownError,
    RangeInvalidError,
    UploadUnknownError,
)
from dockyard.services.content.pulls import PullGate, PullLease, holding
from dockyard.services.content.service import IMMUTABLE_TAG_MESSAGE, ContentService
from dockyard.services.content.views import (
    Lookup,
    ManifestView,
    PrunedTags,
    TagPointer,
    UploadState,
)

__all__ = [
    "IMMUTABLE_TAG_MESSAGE",
    "BlobUnknownError",
    "BulkService",
    "ContentService",
    "DigestInvalidError",
    "ImmutableTagError",
    "Lookup",
    "ManifestBlobUnknownError",
    "ManifestUnknownError",
    "ManifestView",
    "PrunedTags",
    "PullGate",
    "PullLease",
    "RangeInvalidError",
    "TagPointer",
    "UploadState",
    "UploadUnknownError",
    "holding",
]
