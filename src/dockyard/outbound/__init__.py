"""Outbound HTTP to destinations users choose (webhooks, replication), with the address
policy of issue 15 §3: the check is on the address actually connected to."""

from dockyard.outbound.client import (
    OutboundClient,
    OutboundFailed,
    OutboundRefused,
    OutboundResponse,
)
from dockyard.outbound.policy import OutboundPolicy, listening_endpoints

__all__ = [
    "OutboundClient",
    "OutboundFailed",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResponse",
    "listening_endpoints",
]
