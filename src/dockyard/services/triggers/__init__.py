"""Webhook triggers of repositories (PRODUCT.md §7): rules, the service the faces call, the
``triggers`` outbox subscriber and the delivery jobs (``delivery``)."""

from dockyard.services.triggers.delivery import (
    DELIVERY_HEADER,
    DELIVERY_JOB_KIND,
    SIGNATURE_HEADER,
    SUBSCRIBER_NAME,
    TIMESTAMP_HEADER,
    DeliveryError,
    Outbound,
    OutboundResponse,
    RetryPolicy,
    TriggerDeliverer,
    TriggerSubscriber,
    sign,
)
from dockyard.services.triggers.rules import (
    MatchRule,
    check_match_rule,
    check_name,
    check_url,
    mask_url,
)
from dockyard.services.triggers.service import TriggersService
from dockyard.services.triggers.views import (
    STATUSES,
    TriggerChanges,
    TriggerRecordView,
    TriggerSpec,
    TriggerView,
)

__all__ = [
    "DELIVERY_HEADER",
    "DELIVERY_JOB_KIND",
    "SIGNATURE_HEADER",
    "STATUSES",
    "SUBSCRIBER_NAME",
    "TIMESTAMP_HEADER",
    "DeliveryError",
    "MatchRule",
    "Outbound",
    "OutboundResponse",
    "RetryPolicy",
    "TriggerChanges",
    "TriggerDeliverer",
    "TriggerRecordView",
    "TriggerSpec",
    "TriggerSubscriber",
    "TriggerView",
    "TriggersService",
    "check_match_rule",
    "check_name",
    "check_url",
    "mask_url",
    "sign",
]
