"""usage: storage usage counters per namespace, their per-digest counts, and quotas

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00

* ``namespace_usage``: per namespace, logical bytes (every manifest as pushed),
  deduplicated bytes (each distinct digest once) and the optional byte quota.
* ``namespace_content``: per namespace, each distinct digest (manifest bodies, configs,
  layers; not foreign layers) with its size and how many manifests hold it.

Both go with their namespace. The upgrade fills them from the manifests and references
already recorded (the same rules the push and delete paths follow), so existing data is
counted; it reads only the content tables, not garbage collection's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Each (namespace, manifest, digest) once: the manifest itself and the stored blobs it names.
BACKFILL_CONTENT = """
INSERT INTO namespace_content (namespace_id, digest, size, manifests)
SELECT namespace_id, digest, MAX(size), COUNT(*) FROM (
    SELECT r.namespace_id AS namespace_id, m.id AS manifest_id, m.digest AS digest,
           length(m.content) AS size
    FROM manifests m JOIN repositories r ON r.id = m.repository_id
    UNION
    SELECT r.namespace_id, m.id, mr.digest, mr.size
    FROM manifest_references mr
    JOIN manifests m ON m.id = mr.manifest_id
    JOIN repositories r ON r.id = m.repository_id
    WHERE mr.kind IN ('config', 'layer')
      AND mr.media_type NOT LIKE '%foreign%'
      AND mr.media_type NOT LIKE '%nondistributable%'
) held
GROUP BY namespace_id, digest
"""
BACKFILL_USAGE = """
INSERT INTO namespace_usage (namespace_id, logical_bytes, unique_bytes, quota_bytes)
SELECT n.id,
       COALESCE((SELECT SUM(m.size) FROM manifests m
                 JOIN repositories r ON r.id = m.repository_id
                 WHERE r.namespace_id = n.id), 0),
       COALESCE((SELECT SUM(c.size) FROM namespace_content c WHERE c.namespace_id = n.id), 0),
       NULL
FROM namespaces n
"""


def upgrade() -> None:
    op.create_table(
        "namespace_usage",
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("logical_bytes", sa.BigInteger(), nullable=False),
        sa.Column("unique_bytes", sa.BigInteger(), nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_namespace_usage_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", name=op.f("pk_namespace_usage")),
    )
    op.create_table(
        "namespace_content",
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("manifests", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_namespace_content_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "digest", name=op.f("pk_namespace_content")),
    )
    op.execute(sa.text(BACKFILL_CONTENT))
    op.execute(sa.text(BACKFILL_USAGE))


def downgrade() -> None:
    op.drop_table("namespace_content")
    op.drop_table("namespace_usage")
