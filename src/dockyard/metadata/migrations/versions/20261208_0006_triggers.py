"""triggers: webhook triggers of repositories and their delivery log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00

* ``triggers``: name (unique per repository), URL, mode, expression or tags, CloudEvents,
  the HMAC secret encrypted with the master key; they go with their repository.
* ``trigger_deliveries``: one row per push, ping or redelivery per trigger (the delivery
  id is the row id). ``(trigger_id, event_id)`` is unique so a re-run of the subscriber
  records nothing twice; the row keeps the trigger's name and survives its deletion.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _times() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("expression", sa.String(length=512), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("cloudevents", sa.Boolean(), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["instances.id"], name=op.f("fk_triggers_instance_id_instances")
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_triggers_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("repository_id", "name", name=op.f("uq_triggers_repository_id_name")),
    )
    op.create_table(
        "trigger_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("trigger_id", sa.Uuid(), nullable=True),
        sa.Column("trigger_name", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("tag", sa.String(length=128), nullable=True),
        sa.Column("digest", sa.String(length=200), nullable=True),
        sa.Column("media_type", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("ping", sa.Boolean(), nullable=False),
        sa.Column("redelivery_of", sa.Uuid(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_trigger_deliveries_instance_id_instances"),
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_trigger_deliveries_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_trigger_deliveries_trigger_id_triggers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_deliveries")),
        sa.UniqueConstraint(
            "trigger_id", "event_id", name=op.f("uq_trigger_deliveries_trigger_id_event_id")
        ),
    )
    with op.batch_alter_table("trigger_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trigger_deliveries_log", ["repository_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_trigger_deliveries_trigger",
            ["repository_id", "trigger_name", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_trigger_deliveries_status", ["repository_id", "status", "created_at"], unique=False
        )
        batch_op.create_index("ix_trigger_deliveries_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("trigger_deliveries")
    op.drop_table("triggers")
