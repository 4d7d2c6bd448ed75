"""Organizations, users, user groups, resource sets, roles, policies, logon policies, and
the authorization simulator.

Field rules (name shapes, lengths, password complexity) are checked by the identity
service, so a violation is a 400 ``INVALID_INPUT`` whose message names the field and the
rule; the schemas only bound sizes and types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from dockyard.api.schemas.common import ApiModel, RequestModel

SharingScope = Literal["global", "organization", "subtree"]
_NAME = 300
_TEXT = 2000


# ---- organizations --------------------------------------------------------------------------


class OrganizationCreate(RequestModel):
    name: str = Field(max_length=_NAME, description="1-128 printable characters, unique")
    parent_id: str = Field(max_length=64, description="The parent organization's id")
    description: str = Field(default="", max_length=_TEXT)


class OrganizationUpdate(RequestModel):
    name: str | None = Field(default=None, max_length=_NAME)
    description: str | None = Field(default=None, max_length=_TEXT)
    parent_id: str | None = Field(
        default=None, max_length=64, description="Move under this organization (no cycles)"
    )


class OrganizationOut(ApiModel):
    id: str
    name: str
    description: str
    parent_id: str | None
    created_at: datetime


# ---- users --------------------------------------------------------------------------------


class UserCreateBody(RequestModel):
    username: str = Field(max_length=_NAME, description="1-64 of letters, digits, '-', '_', '.'")
    display_name: str = Field(max_length=_NAME, description="1-128, also '@'")
    organization_id: str = Field(max_length=64)
    email: str = Field(max_length=_NAME)
    phone: str = Field(max_length=64, description="5-20 digits and '-', optional leading '+'")
    landline: str = Field(default="", max_length=64, description="4-20 of digits and '-'")
    notify_email: bool = True
    chat_webhook_key: str | None = Field(
        default=None, max_length=1024, description="Stored encrypted, never returned"
    )
    logon_policy: str | None = Field(
        default=None,
        max_length=_NAME,
        description="A logon policy name (default: any time, any address)",
    )
    password: str = Field(
        max_length=256,
        description=(
            "Initial console password (10-32, at least two of letters, digits, ! @ # $ %); "
            "changed at the first sign-in"
        ),
    )
    roles: list[str] = Field(default_factory=list, max_length=64, description="Role names")


class UserUpdate(RequestModel):
    display_name: str | None = Field(default=None, max_length=_NAME)
    organization_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=_NAME)
    phone: str | None = Field(default=None, max_length=64)
    landline: str | None = Field(default=None, max_length=64, description='"" clears it')
    notify_email: bool | None = None
    chat_webhook_key: str | None = Field(default=None, max_length=1024, description='"" removes it')
    logon_policy: str | None = Field(
        default=None, max_length=_NAME, description='"" selects the default policy'
    )
    disabled: bool | None = Field(
        default=None, description="A disabled user cannot authenticate; sessions end"
    )


class UserOut(ApiModel):
    id: str
    username: str
    display_name: str
    organization_id: str | None
    email: str
    phone: str
    landline: str
    notify_email: bool
    chat_webhook_key_set: bool
    logon_policy: str | None
    roles: list[str] = Field(description="Roles granted directly (groups grant more)")
    groups: list[str]
    mfa_required: bool
    mfa_bound: bool
    must_change_password: bool
    disabled: bool
    created_at: datetime
    updated_at: datetime


class MfaSetting(RequestModel):
    required: bool = Field(description="false also clears the bound device")


# ---- groups -------------------------------------------------------------------------------


class GroupCreate(RequestModel):
    name: str = Field(max_length=_NAME, description="3-255 of letters, digits, '_ - . @'")
    organization_id: str = Field(max_length=64)
    description: str = Field(default="", max_length=_TEXT)


class GroupUpdate(RequestModel):
    name: str | None = Field(default=None, max_length=_NAME)
    description: str | None = Field(default=None, max_length=_TEXT)
    organization_id: str | None = Field(default=None, max_length=64)


class GroupOut(ApiModel):
    id: str
    name: str
    organization_id: str
    description: str
    members: list[str]
    roles: list[str]
    resource_sets: list[str]
    created_at: datetime
    updated_at: datetime


# ---- resource sets --------------------------------------------------------------------------


class ResourceSetCreate(RequestModel):
    name: str = Field(max_length=_NAME, description="1-64 of letters, digits, '_ - .'")
    description: str = Field(default="", max_length=_TEXT)
    organization_id: str | None = Field(
        default=None, max_length=64, description="Default: the creator's organization"
    )


class ResourceSetUpdate(RequestModel):
    name: str | None = Field(default=None, max_length=_NAME)
    description: str | None = Field(default=None, max_length=_TEXT)
    organization_id: str | None = Field(default=None, max_length=64)


class NamespaceMemberOut(ApiModel):
    instance_id: str
    namespace: str


class RepositoryMemberOut(ApiModel):
    instance_id: str
    namespace: str
    repository: str
    full_name: str


class ResourceSetOut(ApiModel):
    id: str
    name: str
    organization_id: str | None
    description: str
    groups: list[str]
    namespaces: list[NamespaceMemberOut]
    repositories: list[RepositoryMemberOut]
    created_at: datetime
    updated_at: datetime


# ---- roles and policies ---------------------------------------------------------------------


class RoleCreate(RequestModel):
    name: str = Field(max_length=_NAME, description="1-64 of letters, digits, '_ - . @'")
    description: str = Field(default="", max_length=_TEXT)
    sharing_scope: SharingScope = Field(
        default="global",
        description="Who may attach it: anyone, the creator's organization, or that "
        "organization and its subordinates (an administrator's roles are always global)",
    )
    policies: list[str] = Field(default_factory=list, max_length=64, description="At most 5")


class RoleUpdate(RequestModel):
    description: str | None = Field(default=None, max_length=_TEXT)
    sharing_scope: SharingScope | None = None


class RoleOut(ApiModel):
    id: str
    name: str
    description: str
    sharing_scope: str
    builtin: bool
    organization_id: str | None
    policies: list[str]
    created_at: datetime
    updated_at: datetime


class PolicyCreate(RequestModel):
    name: str = Field(max_length=_NAME, description="At most 15 of letters, digits, '_ - .'")
    description: str = Field(default="", max_length=_TEXT)
    document: Any = Field(
        description='{"Version": "1", "Statement": [{"Effect", "Action", "Resource"}]}'
    )
    sharing_scope: SharingScope = "global"


class PolicyUpdate(RequestModel):
    description: str | None = Field(default=None, max_length=_TEXT)
    document: Any = None
    sharing_scope: SharingScope | None = None


class PolicyOut(ApiModel):
    id: str
    name: str
    description: str
    document: dict[str, Any]
    sharing_scope: str
    builtin: bool
    organization_id: str | None
    created_at: datetime
    updated_at: datetime


# ---- logon policies -------------------------------------------------------------------------


class TimeWindow(RequestModel):
    start: str = Field(max_length=8, description="HH:MM, UTC")
    end: str = Field(max_length=8, description="HH:MM, UTC (exclusive; 24:00 allowed)")


class LogonPolicyCreate(RequestModel):
    name: str = Field(max_length=_NAME, description="1-64 of letters, digits, '_ - .'")
    description: str = Field(default="", max_length=_TEXT)
    time_windows: list[TimeWindow] = Field(default_factory=list, max_length=64)
    cidrs: list[str] = Field(default_factory=list, max_length=512)


class LogonPolicyUpdate(RequestModel):
    description: str | None = Field(default=None, max_length=_TEXT)
    time_windows: list[TimeWindow] | None = Field(default=None, max_length=64)
    cidrs: list[str] | None = Field(default=None, max_length=512)


class TimeWindowOut(ApiModel):
    start: str
    end: str


class LogonPolicyOut(ApiModel):
    id: str
    name: str
    description: str
    time_windows: list[TimeWindowOut]
    cidrs: list[str]
    created_at: datetime
    updated_at: datetime


# ---- the "why" ------------------------------------------------------------------------------


class SimulateRequest(RequestModel):
    username: str = Field(max_length=_NAME)
    action: str = Field(max_length=256, description="e.g. cr:PullRepository")
    resource: str = Field(max_length=2048, description="An ARN, or '*'")


class SimulateOut(ApiModel):
    allowed: bool
    reason: str
    policy: str | None = Field(
        description="The policy whose statement decided (None: none matched)"
    )
    statement: int | None = Field(description="Index of that statement in the policy")
