"""The job queue, as the workers see it: a service (``services.jobs``), since workers reach
the database only through services. Re-exported here so workers keep one import path."""

from dockyard.services.jobs import (
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
