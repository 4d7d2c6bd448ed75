"""The durable job queue every worker of every node leases from (see ``queue``)."""

from dockyard.services.jobs.queue import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    DEFAULT_LEASE,
    DEFAULT_MAX_ATTEMPTS,
    MAX_ERROR_CHARS,
    JobQueue,
    LeasedJob,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_ATTEMPTS",
    "MAX_ERROR_CHARS",
    "JobQueue",
    "LeasedJob",
]
