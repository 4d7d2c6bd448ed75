"""The Alembic migrations build exactly the schema the models describe, both ways.

Every test runs on SQLite and on a real PostgreSQL (``tests/pgserver.py``): models and
migrations must match on both backends.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from dockyard.metadata import migrate, models
from dockyard.metadata.base import Base

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {getattr(models, name).__tablename__ for name in models.__all__}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database on the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dockyard.db'}"
    return str(request.getfixturevalue("pg_url"))


def schema_diff(url: str) -> list:
    def compare(conn: Connection) -> list:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "render_as_batch": conn.dialect.name == "sqlite",
            },
        )
        return compare_metadata(context, Base.metadata)

    return migrate.run_with_connection(url, compare)


def tables(url: str) -> set[str]:
    return migrate.run_with_connection(url, lambda conn: set(inspect(conn).get_table_names()))


def heads() -> set[str]:
    return set(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads())


def test_one_head():
    assert len(heads()) == 1


def test_fresh_database(url):
    assert migrate.is_empty(url)
    pending = migrate.pending_revisions(url)
    assert pending
    # Every revision is pending on a fresh database, head first.
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    assert pending == [rev.revision for rev in script.walk_revisions()]
    assert pending[0] in heads()


def test_upgrade_matches_models_then_downgrade_and_upgrade_again(url):
    migrate.upgrade(url)
    assert not migrate.is_empty(url)
    assert migrate.pending_revisions(url) == []
    assert tables(url) == EXPECTED_TABLES | {"alembic_version"}
    assert schema_diff(url) == []

    # Upgrading again is a no-op.
    migrate.upgrade(url)
    assert migrate.pending_revisions(url) == []

    migrate.downgrade(url, "base")
    assert migrate.is_empty(url)
    assert migrate.pending_revisions(url) != []
    assert tables(url) <= {"alembic_version"}

    migrate.upgrade(url)
    assert migrate.pending_revisions(url) == []
    assert tables(url) == EXPECTED_TABLES | {"alembic_version"}
    assert schema_diff(url) == []


def test_every_model_table_is_registered():
    assert set(Base.metadata.tables) == EXPECTED_TABLES
