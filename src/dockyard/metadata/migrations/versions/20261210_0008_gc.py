"""gc: the record of garbage collection runs, and when a blob was found unreferenced

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00

* ``gc_runs``: one row per run (who, when, dry run or not, status, phase, what it
  reclaimed); the running row's ``lease_expires_at`` keeps one run at a time.
* ``blobs.condemned_at``: when a GC found no manifest referring to the blob; a later run
  deletes it only if it stayed so for the grace period and nobody proved it since.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, dockyard.metadata.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "gc_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        _time("lease_expires_at"),
        sa.Column("blobs_deleted", sa.Integer(), nullable=False),
        sa.Column("bytes_reclaimed", sa.BigInteger(), nullable=False),
        sa.Column("blobs_condemned", sa.Integer(), nullable=False),
        sa.Column("manifests_deleted", sa.Integer(), nullable=False),
        sa.Column("uploads_purged", sa.Integer(), nullable=False),
        sa.Column("orphans_deleted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gc_runs")),
    )
    with op.batch_alter_table("gc_runs", schema=None) as batch_op:
        batch_op.create_index("ix_gc_runs_started_at", ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_gc_runs_status"), ["status"], unique=False)
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.add_column(_time("condemned_at", nullable=True))
        batch_op.create_index(batch_op.f("ix_blobs_condemned_at"), ["condemned_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_condemned_at"))
        batch_op.drop_column("condemned_at")
    op.drop_table("gc_runs")
