"""Tell an observer when connections leave and return to a database's pools.

For the pool-use gauge of ``/metrics``, without the metrics code touching SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from dockyard.metadata.session import Database


def watch_checkouts(
    db: Database, on_checkout: Callable[[], None], on_checkin: Callable[[], None]
) -> None:
    """Call ``on_checkout``/``on_checkin`` as any of ``db``'s engines lends a connection."""
    engines: dict[int, Engine] = {}
    for engine in (
        db.read_engine.sync_engine,
        db.write_engine.sync_engine,
        db.inline_engine,
        db.inline_write_engine,
    ):
        if engine is not None:
            engines[id(engine)] = engine  # PostgreSQL reads and writes share one engine

    def checkout(*_: Any) -> None:
        on_checkout()

    def checkin(*_: Any) -> None:
        on_checkin()

    for engine in engines.values():
        event.listen(engine, "checkout", checkout)
        event.listen(engine, "checkin", checkin)
