"""The concurrently-pulling-client limit (PRODUCT.md §1), counted across workers and nodes.

A *pulling client* is a distinct source address with a blob download in progress. Each
download holds a row in ``pull_leases`` (the database every worker and node shares):

* **Acquire** — before the first byte, in one write transaction under a cluster-wide lock
  per instance (PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE`` is exclusive
  already): drop expired leases, and unless the address is downloading already, count the
  distinct addresses with live leases and ask the edition gate
  (:func:`~dockyard.services.tenancy.editions.check_pulling_clients`), which refuses with
  ``TooManyRequestsError`` (``429 TOOMANYREQUESTS`` + ``Retry-After``).
* **Renew** — while the bytes flow, the sending worker pushes ``expires_at`` forward every
  ``lease/3`` seconds.
* **Release** — the row is deleted when the response ends (sent, failed, or the client went
  away). A worker that crashes or hangs stops renewing, so its slots lapse after at most
  ``lease`` seconds: no slot leaks forever.

Leases are written without waiting for the disk (``durable=False``): a lease lost in a power
cut was about to lapse anyway, and every blob waits for its lease before its first byte.

Whole-blob downloads are handed to the server with ASGI ``pathsend``, so the bytes never
pass through Python. In Granian, ``await send(pathsend)`` returns at hand-off and nothing
tells the application when the transfer ends (``receive()`` reports a disconnect only when
the connection closes, which keep-alive clients do not do per blob). Such a download
therefore holds a *fixed* lease sized from the blob: the time it takes at a conservative
floor rate, at least ``MIN_HOLD_SECONDS``; it lapses by itself and is never renewed. A
slow client may outlast it (the count errs towards admitting) and a fast one leaves early
(the count errs towards refusing, for at most that time). Downloads that Python streams
anyway — ``Range`` requests (unless a trusted proxy sends the file by X-Accel-Redirect,
which holds a fixed lease too) and object storage relayed without a redirect — hold a
renewed lease that is released when the last chunk is sent, exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
import structlog

from dockyard.errors import DockyardError
from dockyard.metadata.base import utcnow
from dockyard.metadata.queries import pulls as pq
from dockyard.metadata.queries.locks import transaction_lock
from dockyard.metadata.session import Database
from dockyard.services.tenancy import editions
from dockyard.services.tenancy.editions import HasEdition

log = structlog.get_logger(__name__)

#: Seconds a lease lives unless renewed; the sender renews every third of it.
LEASE_SECONDS = 30.0
#: Shortest fixed hold of a pathsend download, and the rate its hold is sized by.
MIN_HOLD_SECONDS = 2.0
FLOOR_BYTES_PER_SECOND = 10 * 1024 * 1024
#: What a refused client is told to wait (``Retry-After``).
RETRY_AFTER_SECONDS = 5


def _lock_key(instance_id: str) -> int:
    digest = hashlib.sha256(b"dockyard-pulls:" + instance_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(slots=True)
class PullLease:
    """One download's slot; ``keep_alive`` renews it, ``release`` gives it back."""

    gate: PullGate
    id: uuid.UUID
    instance_id: str
    address: str
    released: bool = field(default=False)

    async def keep_alive(self) -> None:
        """Renew until cancelled (run beside the response)."""
        while True:
            await anyio.sleep(self.gate.lease_seconds / 3)
            try:
                await self.gate.renew(self)
            except DockyardError as exc:
                log.warning("pull lease renewal failed", error=exc.message)

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        with anyio.CancelScope(shield=True):
            try:
                await self.gate.release(self)
            except (DockyardError, OSError) as exc:  # it lapses by itself
                log.warning("pull lease release failed", error=str(exc))


class PullGate:
    """Takes, renews and releases pull leases; the one place the limit is counted."""

    def __init__(
        self,
        db: Database,
        *,
        overrides: Mapping[str, int] | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._db = db
        self._overrides = dict(overrides or {})
        self.lease_seconds = lease_seconds

    @staticmethod
    def hold_for(size: int) -> float:
        """The fixed hold of a download the server sends by itself (see the module doc)."""
        return max(MIN_HOLD_SECONDS, size / FLOOR_BYTES_PER_SECOND)

    async def acquire(
        self, instance: HasEdition, address: str | None, *, hold_seconds: float | None = None
    ) -> PullLease:
        """A lease for one download from ``address``, or ``TooManyRequestsError``.

        With ``hold_seconds`` the lease lapses by itself after that time (no renewal, no
        release needed); without it the caller keeps it alive with :func:`holding`."""
        source = address or "unknown"
        async with self._db.write(durable=False) as session:
            await transaction_lock(session, _lock_key(instance.id))
            now = utcnow()
            await pq.purge_expired(session, instance.id, now)
            current, pulling = await pq.pulling_clients(session, instance.id, source, now)
            if not pulling:
                editions.check_pulling_clients(
                    instance,
                    current,
                    retry_after=RETRY_AFTER_SECONDS,
                    overrides=self._overrides,
                )
            lease_id = await pq.add_lease(
                session,
                instance.id,
                source,
                now,
                now + timedelta(seconds=hold_seconds or self.lease_seconds),
            )
        return PullLease(self, lease_id, instance.id, source)

    async def renew(self, lease: PullLease) -> None:
        async with self._db.write(durable=False) as session:
            await pq.renew_lease(
                session, lease.id, utcnow() + timedelta(seconds=self.lease_seconds)
            )

    async def release(self, lease: PullLease) -> None:
        async with self._db.write(durable=False) as session:
            await pq.delete_lease(session, lease.id)

    async def pulling_clients(self, instance_id: str) -> int:
        """Distinct addresses downloading from the instance now (for tests and metrics)."""
        async with self._db.read() as session:
            return await pq.count_pulling_clients(session, instance_id, utcnow())


@contextlib.asynccontextmanager
async def holding(lease: PullLease) -> AsyncIterator[None]:
    """Keep ``lease`` renewed while the block runs, then release it, whatever happens."""
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lease.keep_alive)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
    finally:
        await lease.release()
