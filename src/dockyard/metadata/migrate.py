"""Schema migrations through Alembic, driven programmatically so the package is self-contained."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def sync_url(url: str) -> str:
    """Alembic runs synchronously; map async driver URLs to their sync twins."""
    return url.replace("sqlite+aiosqlite", "sqlite").replace(
        "postgresql+asyncpg", "postgresql+psycopg"
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def pending_revisions(url: str) -> list[str]:
    """Revisions between the database's current one and head (empty when up to date)."""
    config = alembic_config(url)
    script = ScriptDirectory.from_config(config)
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    heads = set(script.get_heads())
    if set(current) == heads:
        return []
    pending = []
    for rev in script.walk_revisions():
        if rev.revision in current:
            break
        pending.append(rev.revision)
    return pending


def is_empty(url: str) -> bool:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return not MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
