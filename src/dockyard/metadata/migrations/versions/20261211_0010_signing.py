"""signing: the metadata service's namespaces, notes, occurrences and public keys

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-11 09:00:00

* ``metadata_namespaces``: unique per instance; they go with their instance.
* ``metadata_notes``, ``metadata_public_keys``: unique per metadata namespace.
* ``metadata_occurrences``: signatures of one note over one image, stored with the image
  (repository and digest, indexed: found by digest); they go with their repository.
* ``signature_policies``: which pulls need a valid signature of which note (by which
  keys, for which tags); unique per instance, they go with their instance.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, dockyard.metadata.base.UTCDateTime(timezone=True), nullable=nullable)


def _owned_by(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{parent}.id"],
        name=op.f(f"fk_{table}_{column}_{parent}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "metadata_namespaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        _time("created_at"),
        _owned_by("metadata_namespaces", "instance_id", "instances"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata_namespaces")),
        sa.UniqueConstraint(
            "instance_id", "name", name=op.f("uq_metadata_namespaces_instance_id_name")
        ),
    )
    op.create_table(
        "metadata_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("short_description", sa.String(length=1024), nullable=False),
        sa.Column("long_description", sa.Text(), nullable=False),
        sa.Column("human_readable_name", sa.String(length=256), nullable=False),
        _time("expires_at", nullable=True),
        _time("created_at"),
        _owned_by("metadata_notes", "namespace_id", "metadata_namespaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata_notes")),
        sa.UniqueConstraint(
            "namespace_id", "name", name=op.f("uq_metadata_notes_namespace_id_name")
        ),
    )
    op.create_table(
        "metadata_occurrences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("note_id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("resource_uri", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("signatures", sa.JSON(), nullable=False),
        _time("created_at"),
        _owned_by("metadata_occurrences", "namespace_id", "metadata_namespaces"),
        _owned_by("metadata_occurrences", "note_id", "metadata_notes"),
        _owned_by("metadata_occurrences", "repository_id", "repositories"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata_occurrences")),
        sa.UniqueConstraint(
            "namespace_id", "name", name=op.f("uq_metadata_occurrences_namespace_id_name")
        ),
    )
    with op.batch_alter_table("metadata_occurrences", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metadata_occurrences_image", ["repository_id", "digest"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_metadata_occurrences_note_id"), ["note_id"], unique=False
        )
    op.create_table(
        "metadata_public_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=512), nullable=False),
        _time("expires_at", nullable=True),
        sa.Column("armored", sa.Text(), nullable=False),
        _time("created_at"),
        _owned_by("metadata_public_keys", "namespace_id", "metadata_namespaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata_public_keys")),
        sa.UniqueConstraint(
            "namespace_id",
            "fingerprint",
            name=op.f("uq_metadata_public_keys_namespace_id_fingerprint"),
        ),
    )
    op.create_table(
        "signature_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=True),
        sa.Column("repository", sa.String(length=256), nullable=True),
        sa.Column("note_namespace", sa.String(length=64), nullable=False),
        sa.Column("note_name", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprints", sa.JSON(), nullable=False),
        sa.Column("tag_pattern", sa.String(length=512), nullable=True),
        _time("created_at"),
        _owned_by("signature_policies", "instance_id", "instances"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signature_policies")),
        sa.UniqueConstraint(
            "instance_id", "name", name=op.f("uq_signature_policies_instance_id_name")
        ),
    )
    with op.batch_alter_table("signature_policies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signature_policies_namespace", ["instance_id", "namespace"], unique=False
        )
        batch_op.create_index(
            "ix_signature_policies_repository", ["instance_id", "repository"], unique=False
        )


def downgrade() -> None:
    op.drop_table("signature_policies")
    op.drop_table("metadata_public_keys")
    op.drop_table("metadata_occurrences")
    op.drop_table("metadata_notes")
    op.drop_table("metadata_namespaces")
