"""Media types Dockyard understands as manifests."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
IMAGE_CONFIGS = frozenset({OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG})

#: Signatures stored as referrers of an image: part of the image they sign (PRODUCT.md §1), so
#: never "other artifacts" for the edition rule. Cosign's artifact type (and the config media
#: type of its tag-scheme manifests' OCI 1.1 form), and Notation's.
COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature"
SIGNATURES = frozenset({COSIGN_SIGNATURE, NOTATION_SIGNATURE})


def is_foreign(media_type: str) -> bool:
    """Foreign (non-distributable) layers are fetched from their URLs, never pushed here."""
    return "foreign" in media_type or "nondistributable" in media_type
