"""background work: ordered jobs, periodic schedules

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 04:30:00

* ``jobs.ordering_key``: jobs that share a key run one at a time, oldest first (events of
  one repository reach a subscriber in order). Indexed with ``created_at`` for the "is an
  earlier job of this key still pending" check of every lease.
* ``periodic_schedules``: one row per periodic job (upload purge, audit retention, outbox
  pruning); a node claims a due row in the transaction that enqueues the job, so the
  deployment runs each periodic job once per interval, not once per process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordering_key", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_jobs_ordering_key", ["ordering_key", "created_at"], unique=False)
    op.create_table(
        "periodic_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_schedules")),
    )


def downgrade() -> None:
    op.drop_table("periodic_schedules")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_ordering_key")
        batch_op.drop_column("ordering_key")
