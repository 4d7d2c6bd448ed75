"""replication: remotes, tasks and their per-layer records

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-11 09:00:00

* ``replication_remotes``: registries outside this deployment an instance replicates to
  (another Dockyard, any OCI registry): URL, the remote instance id, the user name and the
  secret encrypted with the master key, an optional CA bundle; they go with their instance.
* ``replication_tasks``: one row per tag replicated: source, destination, status
  (``Waiting``/``Running``/``Completed``/``Failed``/``Cancelled``), times, bytes sent, the
  reason of a failure; they go with their instance.
* ``replication_task_layers``: per blob of a task, ``copied`` / ``already present`` /
  ``failed`` with the reason; they go with their task.
* ``replication_rules``: a push matching the level (a namespace or a repository), the
  source and the tag regex becomes a task to the destination; they go with their instance.
  A rule's task names the rule and the event it came from (one task per event and rule).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, dockyard.metadata.base.UTCDateTime(timezone=True), nullable=nullable)


def _instance_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["instance_id"],
        ["instances.id"],
        name=op.f(f"fk_{table}_instance_id_instances"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "replication_remotes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("remote_instance", sa.String(length=64), nullable=True),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("ca_bundle", sa.Text(), nullable=True),
        _time("created_at"),
        _instance_fk("replication_remotes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_remotes")),
        sa.UniqueConstraint(
            "instance_id", "name", name=op.f("uq_replication_remotes_instance_id_name")
        ),
    )
    op.create_table(
        "replication_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("source_repository", sa.String(length=256), nullable=False),
        sa.Column("source_tag", sa.String(length=128), nullable=False),
        sa.Column("source_digest", sa.String(length=128), nullable=True),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("destination_kind", sa.String(length=16), nullable=False),
        sa.Column("destination_repository", sa.String(length=256), nullable=False),
        sa.Column("destination_tag", sa.String(length=128), nullable=False),
        sa.Column("overwrite", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        _time("created_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        _instance_fk("replication_tasks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_tasks")),
    )
    with op.batch_alter_table("replication_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_replication_tasks_instance", ["instance_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_replication_tasks_event", ["event_id", "rule"], unique=True)
    op.create_table(
        "replication_task_layers",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["replication_tasks.id"],
            name=op.f("fk_replication_task_layers_task_id_replication_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "digest", name=op.f("pk_replication_task_layers")),
    )
    op.create_table(
        "replication_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("destination_kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("tags", sa.String(length=512), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _time("created_at"),
        _instance_fk("replication_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_rules")),
        sa.UniqueConstraint(
            "instance_id", "name", name=op.f("uq_replication_rules_instance_id_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("replication_rules")
    op.drop_table("replication_task_layers")
    op.drop_table("replication_tasks")
    op.drop_table("replication_remotes")
