"""Instances and their endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

Edition = Literal["Standard", "Advanced"]
NetworkType = Literal["vpc", "public", "classic"]
REGION_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
DOMAIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$"


class AllowlistEntryIn(RequestModel):
    cidr: str = Field(
        min_length=1, max_length=64, description="Source CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32"
    )
    description: str = Field(default="", max_length=255)


class EndpointIn(RequestModel):
    network_type: NetworkType
    domain: str = Field(pattern=DOMAIN_PATTERN, max_length=253)
    enabled: bool = True
    allowlist: list[AllowlistEntryIn] = Field(
        default_factory=list,
        max_length=100,
        description="Source CIDRs allowed on this endpoint; empty means open to every address",
    )


class InstanceCreate(RequestModel):
    name: str = Field(min_length=1, max_length=128)
    region: str = Field(pattern=REGION_PATTERN)
    edition: Edition = "Standard"
    endpoints: list[EndpointIn] = Field(default_factory=list, max_length=3)


class InstanceUpdate(RequestModel):
    """Fields left out (or null) stay as they are; ``endpoints`` replaces the whole set."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    region: str | None = Field(default=None, pattern=REGION_PATTERN)
    edition: Edition | None = None
    endpoints: list[EndpointIn] | None = Field(default=None, max_length=3)


class AllowlistEntryOut(ApiModel):
    cidr: str
    description: str


class EndpointOut(ApiModel):
    network_type: str
    domain: str
    enabled: bool
    allowlist: list[AllowlistEntryOut]


class InstanceOut(ApiModel):
    id: str
    name: str
    region: str
    edition: str
    endpoints: list[EndpointOut]
    created_at: datetime
    updated_at: datetime


class LimitUseOut(ApiModel):
    name: str = Field(description="What the limit counts, e.g. `namespaces`")
    limit: int | None = Field(description="The edition's limit; null: none of that kind")
    used: int = Field(description="What it counts now")


class InstanceLimitsOut(ApiModel):
    instance_id: str
    edition: Edition
    limits: list[LimitUseOut]
