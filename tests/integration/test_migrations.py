"""The Alembic migrations build exactly the schema the models describe, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from dockyard.metadata import migrate, models
from dockyard.metadata.base import Base

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {getattr(models, name).__tablename__ for name in models.__all__}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'dockyard.db'}"


def schema_diff(url: str) -> list:
    engine = create_engine(migrate.sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "render_as_batch": True,
                },
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(migrate.sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


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

    command.downgrade(migrate.alembic_config(url), "base")
    assert migrate.is_empty(url)
    assert migrate.pending_revisions(url) != []
    assert tables(url) <= {"alembic_version"}

    migrate.upgrade(url)
    assert migrate.pending_revisions(url) == []
    assert tables(url) == EXPECTED_TABLES | {"alembic_version"}
    assert schema_diff(url) == []


def test_every_model_table_is_registered():
    assert set(Base.metadata.tables) == EXPECTED_TABLES
