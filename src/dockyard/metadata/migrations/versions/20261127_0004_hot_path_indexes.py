"""hot path indexes: repositories by (instance, full name); resource-set members

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 02:00:00

Found by tests/integration/test_query_plans.py:

* ``repositories (instance_id, full_name)`` UNIQUE replaces ``(instance_id, name)``, which
  no query used: every registry request finds its repository by full name, and the catalog
  pages in full-name order. With only the old index both read every repository of the
  instance (and the catalog sorted them all for each page).
* ``namespaces.resource_set_id`` and ``repositories.resource_set_id``: building the
  principal of a user whose groups are linked to resource sets (every Basic login and token
  request of such a user) read every namespace and repository.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_index("ix_repositories_instance_id_name")
        batch_op.create_index(
            "ix_repositories_instance_id_full_name", ["instance_id", "full_name"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_repositories_resource_set_id"), ["resource_set_id"], unique=False
        )
    with op.batch_alter_table("namespaces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_namespaces_resource_set_id"), ["resource_set_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("namespaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_namespaces_resource_set_id"))
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repositories_resource_set_id"))
        batch_op.drop_index("ix_repositories_instance_id_full_name")
        batch_op.create_index(
            "ix_repositories_instance_id_name", ["instance_id", "name"], unique=False
        )
