"""Structured JSON logs. Secrets are typed SecretStr and never reach a log call."""

from __future__ import annotations

import logging
import sys

import structlog

#: Libraries whose INFO and DEBUG output carries SQL statements and their parameters
#: (password hashes, key hashes) or request headers. SQLAlchemy logs every statement at
#: INFO, which also cost more CPU than the statements themselves on the write path: they
#: stay at WARNING whatever Dockyard's own level is.
_CHATTY_LIBRARIES = ("aiosqlite", "asyncpg", "sqlalchemy", "botocore", "aiobotocore", "urllib3")
#: Alembic narrates its own set-up at INFO (plugins loaded, dialect, DDL mode) and each
#: step it runs; Dockyard reports the migrations it applied in its own words, so only
#: Alembic's warnings and errors get through.
_NARRATING_LIBRARIES = ("alembic",)


def configure(level: str = "info") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    for name in _CHATTY_LIBRARIES + _NARRATING_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
