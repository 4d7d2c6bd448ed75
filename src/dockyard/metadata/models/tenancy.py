"""Account → instances (with endpoints) → namespaces → repositories."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    #: The numeric-looking id that appears in ARNs (``acs:cr:<region>:<account>:...``).
    arn_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Instance(Base):
    __tablename__ = "instances"

    #: ``default`` for the first instance, ``cri-<random>`` for the others.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(64))
    edition: Mapped[str] = mapped_column(String(16))  # Standard | Advanced
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InstanceEndpoint(Base):
    """A domain the instance answers on, one per network type (vpc, public, classic)."""

    __tablename__ = "instance_endpoints"
    __table_args__ = (UniqueConstraint("instance_id", "network_type"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    network_type: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class EndpointAclEntry(Base):
    """A source CIDR allowed on an endpoint; an endpoint with none is open."""

    __tablename__ = "endpoint_acl_entries"
    __table_args__ = (UniqueConstraint("endpoint_id", "cidr"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("instance_endpoints.id", ondelete="CASCADE")
    )
    cidr: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")


class Namespace(Base):
    __tablename__ = "namespaces"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    name: Mapped[str] = mapped_column(String(30))
    auto_create: Mapped[bool] = mapped_column(Boolean, default=True)
    default_repository_type: Mapped[str] = mapped_column(String(16), default="private")
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    resource_set_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Repository(Base):
    __tablename__ = "repositories"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name"),
        # The registry finds a repository by (instance, full name) and pages the catalog
        # in full-name order: both by this index (tests/integration/test_query_plans.py).
        Index("ix_repositories_instance_id_full_name", "instance_id", "full_name", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    #: The public id shown to users (``crr-<random>``).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    namespace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("namespaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    #: ``<namespace>/<repository>``, denormalised so the catalog pages by one index.
    full_name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16), default="private")  # public | private
    summary: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tag_mutability: Mapped[str] = mapped_column(String(16), default="Flexible")
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    resource_set_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
