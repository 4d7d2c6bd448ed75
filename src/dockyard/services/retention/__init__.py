"""Tag retention policies (PRODUCT.md §9, Advanced edition): the ranking rules, the service
the faces call, and the scheduled runs the periodic job starts."""

from dockyard.services.retention.rules import EVERY_TAG, RepositoryPlan, plan_repository
from dockyard.services.retention.service import (
    DEFAULT_MAX_DELETE_SHARE,
    RUN_JOB_KIND,
    RetentionService,
)
from dockyard.services.retention.views import (
    PolicyChanges,
    PolicySpec,
    PolicyView,
    RepositoryOutcome,
    RunView,
)

__all__ = [
    "DEFAULT_MAX_DELETE_SHARE",
    "EVERY_TAG",
    "RUN_JOB_KIND",
    "PolicyChanges",
    "PolicySpec",
    "PolicyView",
    "RepositoryOutcome",
    "RepositoryPlan",
    "RetentionService",
    "RunView",
    "plan_repository",
]
