"""What an update may change, as keyword arguments: a key left out or ``None`` leaves its
column as it is. Shared by the aggregates whose updates take the same fields."""

from __future__ import annotations

from typing import Any, TypedDict


class OrganizationChange(TypedDict, total=False):
    name: str | None
    description: str | None
    parent_id: str | None


class Placement(TypedDict, total=False):
    """A group's or resource set's new name, description or organization."""

    new_name: str | None
    description: str | None
    organization_id: str | None


class Sharing(TypedDict, total=False):
    """A role's or policy's new description or sharing scope."""

    description: str | None
    sharing_scope: str | None


class PolicyChange(Sharing, total=False):
    document: Any


class LogonChange(TypedDict, total=False):
    description: str | None
    time_windows: Any
    cidrs: Any
