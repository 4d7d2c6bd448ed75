"""The Grafeas-style metadata service of an instance (PRODUCT.md §8): metadata namespaces,
their attestation notes, occurrences (signatures of one image) and public keys, and the
signature policies that gate pulls.

An occurrence is stored with the image it signs (its repository and digest), so it is found
by digest and goes with its repository (ON DELETE CASCADE). Metadata namespaces go with
their instance; notes, occurrences and keys with their metadata namespace.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class MetadataNamespace(Base):
    __tablename__ = "metadata_namespaces"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetadataNote(Base):
    """An attestation authority: occurrences of it are signatures."""

    __tablename__ = "metadata_notes"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("metadata_namespaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    short_description: Mapped[str] = mapped_column(String(1024), default="")
    long_description: Mapped[str] = mapped_column(Text, default="")
    human_readable_name: Mapped[str] = mapped_column(String(256), default="")
    #: Past it, verification reports "note expired"; a past time is accepted on create.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetadataOccurrence(Base):
    """Signatures of one note over one image (``repository_id`` and ``digest``)."""

    __tablename__ = "metadata_occurrences"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name"),
        Index("ix_metadata_occurrences_image", "repository_id", "digest"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("metadata_namespaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128))
    note_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("metadata_notes.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE")
    )
    digest: Mapped[str] = mapped_column(String(160))
    resource_uri: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(32))
    #: ``[{"Signature": armored message, "PublicKeyId": fingerprint}, ...]``
    signatures: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetadataPublicKey(Base):
    """An OpenPGP public key trusted for the occurrences of one metadata namespace."""

    __tablename__ = "metadata_public_keys"
    __table_args__ = (UniqueConstraint("namespace_id", "fingerprint"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("metadata_namespaces.id", ondelete="CASCADE")
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(512), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    armored: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignaturePolicy(Base):
    """Pulls of a namespace's or a repository's images (optionally only of tags matching
    ``tag_pattern``) need a valid signature of one note, by one of ``key_fingerprints``
    (empty: any key registered in the note's metadata namespace)."""

    __tablename__ = "signature_policies"
    __table_args__ = (
        UniqueConstraint("instance_id", "name"),
        # Every manifest GET looks for its repository's and its namespace's policies.
        Index("ix_signature_policies_namespace", "instance_id", "namespace"),
        Index("ix_signature_policies_repository", "instance_id", "repository"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    #: The repository namespace it applies to; None: ``repository`` instead.
    namespace: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The full name (``ns/repo``) of the repository it applies to, when no namespace.
    repository: Mapped[str | None] = mapped_column(String(256), nullable=True)
    note_namespace: Mapped[str] = mapped_column(String(64))
    note_name: Mapped[str] = mapped_column(String(64))
    key_fingerprints: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: A regex the whole tag must match for the policy to apply; None: every pull.
    tag_pattern: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
