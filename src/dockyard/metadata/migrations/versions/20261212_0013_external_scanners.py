"""external scanners: Harbor Pluggable Scanner API adapters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12 00:30:00

* ``external_scanners``: scanner adapters registered by name (deployment-wide): the
  adapter's URL, the registry URL it pulls from, the encrypted ``Authorization`` value sent
  to it, whether it replaces the built-in scanner, and the adapter's metadata.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_scanners",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("registry_url", sa.String(length=2000), nullable=False),
        sa.Column("authorization_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("instead_of_builtin", sa.Boolean(), nullable=False),
        sa.Column("adapter", sa.JSON(), nullable=False),
        sa.Column("created_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_external_scanners")),
    )


def downgrade() -> None:
    op.drop_table("external_scanners")
