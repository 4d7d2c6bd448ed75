"""pull leases: blob downloads in progress, for the concurrently-pulling-client limit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pull_leases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("expires_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["instances.id"], name=op.f("fk_pull_leases_instance_id_instances")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_leases")),
    )
    with op.batch_alter_table("pull_leases", schema=None) as batch_op:
        batch_op.create_index("ix_pull_leases_live", ["instance_id", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pull_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_pull_leases_live")
    op.drop_table("pull_leases")
