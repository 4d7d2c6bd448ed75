"""Per-address rate limit on failed registry authentications.

After ``limit`` failed registry authentications from one source address within
``window`` seconds, further attempts from that address are refused with
:class:`~dockyard.errors.TooManyRequestsError` (``429 TOOMANYREQUESTS`` + ``Retry-After``)
until the oldest failure leaves the window. Failures are counted per address, never per
account: a flood of bad passwords against ``admin`` from one address never locks the
administrator out of pushing from another **(design)**.

Failures are rows of ``auth_failures`` (scope ``registry``), so every worker and node
counts the same failures; rows older than the window are pruned as failures are recorded.
Only attempts that would verify a password (an argon2 run) look at the count: a credential
verified a moment ago (cached) or a Bearer token costs nothing more.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import TooManyRequestsError
from dockyard.metadata.queries import credentials as q
from dockyard.metadata.session import Database

SCOPE = "registry"
DEFAULT_LIMIT = 10
DEFAULT_WINDOW_SECONDS = 60


class AuthRateLimiter:
    def __init__(
        self,
        db: Database,
        *,
        limit: int = DEFAULT_LIMIT,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        scope: str = SCOPE,
    ) -> None:
        self._db = db
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self._clock = clock
        self._scope = scope
        self._last_prune: datetime | None = None

    @staticmethod
    def _key(address: str | None) -> str:
        return (address or "unknown")[:64]

    async def check(self, address: str | None) -> None:
        """Raise :class:`TooManyRequestsError` while ``address`` is over the limit."""
        if self.limit <= 0:
            return
        now = self._clock.now()
        async with self._db.read() as session:
            count, oldest = await q.auth_failures_since(
                session, self._scope, self._key(address), now - self.window
            )
        if count < self.limit:
            return
        wait = self.window.total_seconds()
        if oldest is not None:
            wait = (oldest + self.window - now).total_seconds()
        retry_after = max(1, math.ceil(wait))
        raise TooManyRequestsError(
            f"too many failed authentications from {address or 'this address'}: at most "
            f"{self.limit} per {int(self.window.total_seconds())} seconds; retry after "
            f"{retry_after} seconds",
            retry_after=retry_after,
        )

    async def record_failure(self, address: str | None) -> None:
        now = self._clock.now()
        async with self._db.write() as session:
            q.add_auth_failure(session, self._scope, self._key(address), now)
            if self._last_prune is None or now - self._last_prune > self.window:
                await q.prune_auth_failures(session, self._scope, now - self.window)
                self._last_prune = now
