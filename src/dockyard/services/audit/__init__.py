"""The audit log: who did what, from where, when, and how it ended (see ``log``)."""

from dockyard.services.audit.log import PRUNE_BATCH, PRUNE_MAX_BATCHES, Actor, AuditLog
from dockyard.services.audit.views import OUTCOMES, AuditEventView, AuditQuery, Outcome

__all__ = [
    "OUTCOMES",
    "PRUNE_BATCH",
    "PRUNE_MAX_BATCHES",
    "Actor",
    "AuditEventView",
    "AuditLog",
    "AuditQuery",
    "Outcome",
]
