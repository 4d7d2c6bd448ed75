"""Parse and validate manifests before anything is stored.

The registry accepts OCI image manifests and indexes, Docker schema 2 manifests and
manifest lists, and any OCI artifact built on them. Docker schema 1 is refused with a
message that says why, because clients that still send it need to be told to upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from dockyard.errors import InvalidInputError
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, DigestError

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class ManifestInvalidError(InvalidInputError):
    """The manifest body is malformed."""


class ManifestTooLargeError(ManifestInvalidError):
    """The manifest exceeds the size limit (HTTP 413)."""


class ManifestUnsupportedError(InvalidInputError):
    """The manifest is well-formed but of a kind Dockyard will not store."""


class ManifestKind(Enum):
    """What a manifest is for the edition rule on OCI artifacts (PRODUCT.md §1)."""

    IMAGE = "image"
    #: An index of images is an image; whether it is depends on its children.
    INDEX = "index"
    #: A signature of an image (cosign, Notation): part of the image it signs.
    SIGNATURE = "signature"
    ARTIFACT = "artifact"


def stored_kind(media_type: str, referrer_type: str | None) -> ManifestKind:
    """The kind of a stored manifest, from its media type and its referrer artifact type
    (``artifactType``, else the config media type), which is what the store keeps."""
    if referrer_type in mt.SIGNATURES:
        return ManifestKind.SIGNATURE
    if media_type in mt.INDEXES:
        return ManifestKind.INDEX if referrer_type is None else ManifestKind.ARTIFACT
    if referrer_type in mt.IMAGE_CONFIGS:
        return ManifestKind.IMAGE
    return ManifestKind.ARTIFACT


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform:
            out["platform"] = self.platform
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = self.annotations
        return out


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def kind(self) -> ManifestKind:
        """An image has an image config media type and no ``artifactType``; an index with no
        ``artifactType`` is an image when all its children are (the caller checks them)."""
        if self.referrer_artifact_type in mt.SIGNATURES:
            return ManifestKind.SIGNATURE
        if self.artifact_type is not None:
            return ManifestKind.ARTIFACT
        if self.is_index:
            return ManifestKind.INDEX
        if self.config is not None and self.config.media_type in mt.IMAGE_CONFIGS:
            return ManifestKind.IMAGE
        return ManifestKind.ARTIFACT

    @property
    def referrer_artifact_type(self) -> str | None:
        """What the referrers API reports: artifactType, else the config media type."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalidError(f"{where}: descriptor must be an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalidError(f"{where}: mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise ManifestInvalidError(f"{where}: digest must be a string")
    try:
        Digest.parse(digest)
    except DigestError as exc:
        raise ManifestInvalidError(f"{where}: {exc.message}") from exc
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalidError(f"{where}: size must be a non-negative integer")
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalidError(f"{where}: platform must be an object")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalidError(f"{where}: artifactType must be a string")
    annotations = _annotations(value.get("annotations"), where)
    return Descriptor(media_type, digest, size, platform, artifact_type, annotations or None)


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalidError(f"{where}: annotations must map strings to strings")
    return value


def _descriptor_list(value: Any, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ManifestInvalidError(f"{where} must be a list")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate ``body`` and return what the store needs to know about it."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestTooLargeError(f"manifest exceeds {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ManifestInvalidError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestInvalidError("manifest must be a JSON object")

    content_type = (content_type or "").split(";")[0].strip().lower() or None
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestInvalidError("mediaType must be a string")
    schema_version = doc.get("schemaVersion")
    if schema_version == 1 or content_type in mt.SCHEMA1 or body_type in mt.SCHEMA1:
        raise ManifestUnsupportedError(
            "Docker schema 1 manifests are not supported: they are deprecated and unsigned "
            "content; push with a client that sends schema 2 or OCI manifests"
        )
    if schema_version != 2:
        raise ManifestInvalidError("schemaVersion must be 2")

    media_type = _resolve_media_type(doc, body_type, content_type)
    annotations = _annotations(doc.get("annotations"), "annotations")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalidError("artifactType must be a string")

    if media_type in mt.INDEXES:
        children = _descriptor_list(doc.get("manifests"), "manifests")
        return ParsedManifest(
            media_type,
            None,
            children=children,
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in doc:
        raise ManifestInvalidError("image manifest needs a config descriptor")
    config = _descriptor(doc["config"], "config")
    layers = _descriptor_list(doc.get("layers", []), "layers")
    if media_type == mt.DOCKER_MANIFEST and artifact_type is not None:
        raise ManifestInvalidError("Docker schema 2 manifests cannot carry artifactType")
    return ParsedManifest(
        media_type,
        config,
        layers=layers,
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _resolve_media_type(
    doc: dict[str, Any], body_type: str | None, content_type: str | None
) -> str:
    if body_type and content_type and body_type != content_type and content_type in mt.MANIFESTS:
        raise ManifestInvalidError(
            f"mediaType {body_type!r} does not match Content-Type {content_type!r}"
        )
    for candidate in (body_type, content_type):
        if candidate in mt.MANIFESTS:
            return candidate
    if body_type:
        raise ManifestInvalidError(f"unsupported manifest mediaType {body_type!r}")
    # No recognisable type anywhere: infer from the shape, as OCI allows mediaType to be absent.
    return mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
