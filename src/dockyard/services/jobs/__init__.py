"""Background jobs: the durable queue every worker of every node leases from (``queue``),
and handlers, periodic schedules and the jobs' views (``service``)."""

from dockyard.services.jobs.queue import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    COMPLETED,
    DEFAULT_LEASE,
    DEFAULT_MAX_ATTEMPTS,
    MAX_ERROR_CHARS,
    GivenUp,
    JobQueue,
    JobRun,
    LeasedJob,
    complete_in,
)
from dockyard.services.jobs.service import (
    JOB_STATES,
    JobHandler,
    JobsService,
    JobView,
    PeriodicJob,
    PermanentJobError,
    Scheduler,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "COMPLETED",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_ATTEMPTS",
    "JOB_STATES",
    "MAX_ERROR_CHARS",
    "GivenUp",
    "JobHandler",
    "JobQueue",
    "JobRun",
    "JobView",
    "JobsService",
    "LeasedJob",
    "PeriodicJob",
    "PermanentJobError",
    "Scheduler",
    "complete_in",
]
