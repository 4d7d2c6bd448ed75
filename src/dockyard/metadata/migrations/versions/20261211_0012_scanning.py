"""scanning: the offline vulnerability database

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-11 09:00:00

* ``vuln_records``: one OSV record each (id, modified, summary, aliases, severity and
  score, the whole document for range evaluation).
* ``vuln_packages``: the (ecosystem, package) pairs each record affects, indexed for lookup.
* ``vulndb_imports``: one row per import; the latest id is the database version.
* ``image_scans``: per repository and manifest digest, the scan's state, the packages and
  vulnerabilities found, the database version used and the SBOM referrer's digest.
* ``scan_policies``: per namespace, scan on push and the pull gate (severity, unscanned,
  the CVE allowlist).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dockyard.metadata.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, dockyard.metadata.base.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "vuln_records",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("modified", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        _time("imported_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_records")),
    )
    op.create_table(
        "vuln_packages",
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("ecosystem", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["vuln_records.id"],
            name=op.f("fk_vuln_packages_record_id_vuln_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "ecosystem", "name", name=op.f("pk_vuln_packages")),
    )
    op.create_index("ix_vuln_packages_lookup", "vuln_packages", ["ecosystem", "name"])
    op.create_table(
        "vulndb_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        _time("imported_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulndb_imports")),
    )

    op.create_table(
        "image_scans",
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("db_version", sa.Integer(), nullable=True),
        sa.Column("sbom_digest", sa.String(length=200), nullable=True),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("vulnerabilities", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=True),
        _time("queued_at"),
        sa.Column("finished_at", dockyard.metadata.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_image_scans_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "digest", name=op.f("pk_image_scans")),
    )
    op.create_table(
        "scan_policies",
        sa.Column("namespace_id", sa.Uuid(), nullable=False),
        sa.Column("scan_on_push", sa.Boolean(), nullable=False),
        sa.Column("block_severity", sa.String(length=16), nullable=True),
        sa.Column("block_unscanned", sa.Boolean(), nullable=False),
        sa.Column("allowlist", sa.JSON(), nullable=False),
        _time("updated_at"),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_scan_policies_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", name=op.f("pk_scan_policies")),
    )


def downgrade() -> None:
    op.drop_table("scan_policies")
    op.drop_table("image_scans")
    op.drop_table("vulndb_imports")
    op.drop_index("ix_vuln_packages_lookup", table_name="vuln_packages")
    op.drop_table("vuln_packages")
    op.drop_table("vuln_records")
