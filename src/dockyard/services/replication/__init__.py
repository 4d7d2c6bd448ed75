"""Replication (PRODUCT.md §6): remotes, tasks the background worker runs, and the
destinations it writes to."""

from dockyard.services.replication.access import rule_arn, rule_target, task_arn
from dockyard.services.replication.destinations import (
    AUTHENTICATION_REFUSED,
    DESTINATION_IMMUTABLE,
    DESTINATION_LIMIT,
    PERMISSION_DENIED,
    SOURCE_MANIFEST_UNKNOWN,
    UNREACHABLE,
    BlobBody,
    Destination,
    DestinationError,
    RemoteConnector,
)
from dockyard.services.replication.rules import (
    ReplicationRules,
    ReplicationSubscriber,
    check_source,
)
from dockyard.services.replication.runner import TASK_JOB_KIND, ReplicationRunner, task_given_up
from dockyard.services.replication.service import ReplicationService
from dockyard.services.replication.views import (
    TASK_STATES,
    TO_INSTANCE,
    LayerView,
    RemoteEndpoint,
    RemoteSpec,
    RemoteView,
    ReplicationRequest,
    RuleSpec,
    RuleView,
    TaskView,
)

__all__ = [
    "AUTHENTICATION_REFUSED",
    "DESTINATION_IMMUTABLE",
    "DESTINATION_LIMIT",
    "PERMISSION_DENIED",
    "SOURCE_MANIFEST_UNKNOWN",
    "TASK_JOB_KIND",
    "TASK_STATES",
    "TO_INSTANCE",
    "UNREACHABLE",
    "BlobBody",
    "Destination",
    "DestinationError",
    "LayerView",
    "RemoteConnector",
    "RemoteEndpoint",
    "RemoteSpec",
    "RemoteView",
    "ReplicationRequest",
    "ReplicationRules",
    "ReplicationRunner",
    "ReplicationService",
    "ReplicationSubscriber",
    "RuleSpec",
    "RuleView",
    "TaskView",
    "check_source",
    "rule_arn",
    "rule_target",
    "task_arn",
    "task_given_up",
]
