"""Library loggers that print SQL (with its parameters) or request headers stay quiet."""

from __future__ import annotations

import logging

import pytest

from dockyard import logging as dlogging

CHATTY = ("sqlalchemy.engine", "sqlalchemy.pool", "aiosqlite", "asyncpg", "botocore")


@pytest.mark.parametrize("level", ["debug", "info", "warning"])
def test_sql_and_driver_logs_are_off_at_every_level(level: str) -> None:
    root = logging.getLogger()
    saved = root.level
    # pytest's handler on the root logger turns basicConfig into a no-op; in a worker the
    # root logger takes the configured level, so set it as the server would.
    root.setLevel(level.upper())
    try:
        dlogging.configure(level)
    finally:
        root.setLevel(saved)
    for name in CHATTY:
        logger = logging.getLogger(name)
        # SQLAlchemy prints every statement and its parameters when INFO is enabled.
        assert not logger.isEnabledFor(logging.INFO), name
        assert logger.isEnabledFor(logging.WARNING), name


def test_alembic_narration_is_off_and_its_warnings_are_on() -> None:
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.INFO)
    try:
        dlogging.configure("info")
    finally:
        root.setLevel(saved)
    # "Context impl SQLiteImpl." and "Running upgrade …" are logged at INFO by these.
    for name in ("alembic.runtime.migration", "alembic.runtime.plugins"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO), name
        assert logger.isEnabledFor(logging.WARNING), name
