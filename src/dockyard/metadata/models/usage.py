"""Storage usage per namespace, kept with every push and delete, and the optional quota.

``namespace_usage`` is one row per namespace: logical bytes (every manifest's size as
pushed: its own bytes, config and layers), deduplicated bytes (each distinct content digest
of the namespace once) and the quota. ``namespace_content`` holds, per namespace, each
distinct digest (manifest bodies, configs, layers) with its size and how many manifests of
the namespace hold it: a digest's bytes join the deduplicated figure when its count leaves
0 and leave it when the count returns to 0. Both change only while the transaction holds
the namespace's ``namespace_usage`` row lock, so counts and quota checks cannot interleave.
Rows go with their namespace (ON DELETE CASCADE).
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base


class NamespaceUsage(Base):
    __tablename__ = "namespace_usage"

    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    logical_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    unique_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: None: no quota.
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class NamespaceContent(Base):
    """A distinct digest of a namespace: counted once, however many manifests hold it."""

    __tablename__ = "namespace_content"

    namespace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    #: Manifests of the namespace that are, or refer to, this content.
    manifests: Mapped[int] = mapped_column(Integer)
