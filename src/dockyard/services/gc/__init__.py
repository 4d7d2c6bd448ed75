"""Online garbage collection (PRODUCT.md §13): what nothing needs any more is reclaimed
from the metadata and the blob store while pushes and pulls go on; the argument that it
never deletes what is still needed is in docs/operations.md."""

from dockyard.services.gc.service import (
    RUN_ACTION,
    RUN_JOB_KIND,
    GarbageCollector,
    GcPolicy,
    GcRunningError,
    PhaseHook,
)
from dockyard.services.gc.views import (
    DONE,
    MANUAL,
    PHASES,
    SCHEDULED,
    GcRunView,
)

__all__ = [
    "DONE",
    "MANUAL",
    "PHASES",
    "RUN_ACTION",
    "RUN_JOB_KIND",
    "SCHEDULED",
    "GarbageCollector",
    "GcPolicy",
    "GcRunView",
    "GcRunningError",
    "PhaseHook",
]
