"""Identity and access (PRODUCT.md §3-4): organizations, users, groups, resource sets,
roles, policies, logon policies, credentials, the audit log, and the token signing keys.

Secrets are never stored in the clear: passwords are argon2 hashes, access-key and STS
secrets are keyed hashes (they are long and random, so a fast hash is enough), and MFA
seeds and chat webhook keys are encrypted with the master key.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.metadata.base import Base, UTCDateTime, new_uuid, utcnow


class Organization(Base):
    """A node of the organization tree; the root has no parent."""

    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogonPolicy(Base):
    """When and from where a user may sign in (UTC time windows, source CIDRs).

    ``time_windows``: ``[{"start": "HH:MM", "end": "HH:MM"}]`` (UTC; empty = any time);
    ``cidrs``: ``["10.0.0.0/8", ...]`` (empty = any address). A user without a logon
    policy gets the default one, which allows any time and any address.
    """

    __tablename__ = "logon_policies"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(512), default="")
    time_windows: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "username"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    landline: Mapped[str] = mapped_column(String(20), default="")
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Chat webhook key for notifications, encrypted with the master key.
    chat_webhook_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    logon_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("logon_policies.id"), nullable=True
    )
    #: argon2 hash of the console/API password.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: argon2 hash of the registry (docker login) password; separate by design.
    registry_password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: MFA enabled by an administrator; the device is bound at the next sign-in.
    mfa_required: Mapped[bool] = mapped_column(Boolean, default=False)
    #: TOTP seed encrypted with the master key; set while binding, kept once bound.
    mfa_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    mfa_bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Last TOTP time step accepted, so a code is never accepted twice.
    mfa_last_step: Mapped[int] = mapped_column(Integer, default=0)
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    registry_password_changed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True
    )
    #: Bumped to revoke every session token issued before (password change, disable).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Policy(Base):
    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(512), default="")
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: global | organization | subtree: who may attach it (never changes evaluation).
    sharing_scope: Mapped[str] = mapped_column(String(32), default="global")
    #: The creator's organization, which the sharing scope is relative to.
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(512), default="")
    sharing_scope: Mapped[str] = mapped_column(String(32), default="global")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RolePolicy(Base):
    __tablename__ = "role_policies"

    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("policies.id", ondelete="CASCADE"), primary_key=True
    )


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class UserGroup(Base):
    __tablename__ = "user_groups"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GroupRole(Base):
    """A role granted to a user group: every member gets its permissions."""

    __tablename__ = "group_roles"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ResourceSet(Base):
    """Namespaces and repositories grouped for user groups (their ``resource_set_id``)."""

    __tablename__ = "resource_sets"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ResourceSetGroup(Base):
    """Many-to-many: a resource set linked to user groups, a group to resource sets."""

    __tablename__ = "resource_set_groups"

    resource_set_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("resource_sets.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AccessKey(Base):
    """An AccessKey ID + secret for the API and CLI; several per user."""

    __tablename__ = "access_keys"

    #: The AccessKey ID, shown to the user (not a secret).
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: HMAC-SHA256 of the secret, keyed by the master key; the secret is shown once.
    secret_hash: Mapped[str] = mapped_column(String(128))
    #: active | disabled
    status: Mapped[str] = mapped_column(String(16), default="active")
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StsCredential(Base):
    """Temporary security credentials derived from an access key, with an expiry."""

    __tablename__ = "sts_credentials"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    access_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("access_keys.id", ondelete="CASCADE"), nullable=True, index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthFailure(Base):
    """A failed authentication, counted per source address (registry rate limit) and kept
    only as long as its window."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_window", "scope", "address", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    #: registry | signin
    scope: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did what, from where, when, and how it ended (PRODUCT.md issue 5 §5)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "account_id", "at"),
        Index("ix_audit_events_actor", "account_id", "actor", "at"),
        Index("ix_audit_events_action", "account_id", "action", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: User name, ``anonymous``, or ``system``.
    actor: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    #: The policy action (``cr:PushRepository``, ``ram:CreateUser``) or an event name
    #: (``signin``, ``mfa.bind``).
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(512), default="")
    #: success | failure | denied
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class SigningKey(Base):
    """A token signing key pair; the private half is encrypted with the master key."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
