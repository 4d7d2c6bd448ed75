"""retention: tag retention policies and the record of their runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 09:00:00

* ``retention_policies``: name (unique per instance), scope (a namespace, or repositories'
  full names), keep-latest N, keep-tags pattern, optional daily schedule and when it is
  next due; they go with their instance.
* ``retention_runs``: one row per execution (who, when, status, why it stopped, per
  repository the kept and deleted tags); they go with their policy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, dockyard.metadata.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=True),
        sa.Column("repositories", sa.JSON(), nullable=False),
        sa.Column("keep_latest", sa.Integer(), nullable=False),
        sa.Column("keep_tags", sa.String(length=512), nullable=False),
        sa.Column("schedule", sa.String(length=5), nullable=True),
        _time("next_run_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_retention_policies_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policies")),
        sa.UniqueConstraint(
            "instance_id", "name", name=op.f("uq_retention_policies_instance_id_name")
        ),
    )
    with op.batch_alter_table("retention_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retention_policies_next_run_at"), ["next_run_at"], unique=False
        )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("repositories", sa.JSON(), nullable=False),
        _time("started_at"),
        _time("finished_at"),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["retention_policies.id"],
            name=op.f("fk_retention_runs_policy_id_retention_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.create_index("ix_retention_runs_policy", ["policy_id", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_table("retention_runs")
    op.drop_table("retention_policies")
