"""What the database says about the registry's state, for ``/metrics``.

Read at scrape time by the scraped worker only: these are facts of the shared database,
so summing them over the workers (as per-process metrics are) would multiply them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.metadata.queries import metrics as q
from dockyard.metadata.session import Database

#: Job states that are still to be done (``failed`` jobs stay for inspection only).
PENDING_JOB_STATES = ("waiting", "running")


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    blobs: int
    manifests: int
    #: (kind, state) → jobs.
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    #: kind → seconds since the oldest pending job of that kind was queued.
    oldest_job_age_seconds: dict[str, float] = field(default_factory=dict)
    #: Seconds since the oldest unpublished outbox event was written (0: none waiting).
    outbox_lag_seconds: float = 0.0
    #: Instance id → pulling-client slots in use.
    pulling_clients: dict[str, int] = field(default_factory=dict)


class ObservabilityService:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._clock = clock

    async def snapshot(self) -> RegistrySnapshot:
        """One read transaction: the figures are consistent with each other."""
        now = self._clock.now()
        async with self._db.read() as session:
            blobs = await q.count_blobs(session)
            manifests = await q.count_manifests(session)
            kinds = await q.job_kinds(session)
            oldest_event = await q.oldest_unpublished_event(session)
            pulling = await q.pulling_clients_by_instance(session, now)
        oldest: dict[str, float] = {}
        for row in kinds:
            if row.state in PENDING_JOB_STATES and row.oldest is not None:
                age = max(0.0, (now - row.oldest).total_seconds())
                oldest[row.kind] = max(age, oldest.get(row.kind, 0.0))
        return RegistrySnapshot(
            blobs=blobs,
            manifests=manifests,
            jobs={(row.kind, row.state): row.count for row in kinds},
            oldest_job_age_seconds=oldest,
            outbox_lag_seconds=(
                max(0.0, (now - oldest_event).total_seconds()) if oldest_event else 0.0
            ),
            pulling_clients=pulling,
        )
