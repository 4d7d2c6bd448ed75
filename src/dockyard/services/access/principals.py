"""Who a signed-in user is, for ``authorize``: their policies, scoped ones, and SelfService.

A user's permissions are the union of the policies of all their roles (PRODUCT.md §3):
roles granted directly, and roles granted to the groups they are in. A group linked to one
or more resource sets is narrowed to those sets **(design)**: the policies of its roles
become :class:`~dockyard.services.access.ScopedPolicies` whose ``resources`` are the ARN
patterns of the sets' namespaces (``repository/[$iid/]$ns`` and ``repository/[$iid/]$ns/*``)
and repositories (``repository/[$iid/]$ns/$repo``), each in its instance's edition form.
A group with no resource set grants its roles' policies everywhere.

Every user also holds the implicit ``SelfService`` policy: the actions on their own
``acs:ram::$account:user/$self`` that everyone needs (read themselves, change their
password, manage their access keys) and ``sts:GetSessionToken`` on ``*``. It goes through
``authorize`` like any policy, so an explicit Deny still takes it away.

:func:`load_principal` runs on every Basic authentication and token refresh: two SQL
statements at most, whatever the number of roles, groups and sets.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import User
from dockyard.metadata.queries import identity as q
from dockyard.policy import PolicyDocument
from dockyard.services.access.decisions import InstanceRef, Principal, ScopedPolicies

SELF_SERVICE = "SelfService"
#: What every user may do on their own ``user/$self``.
SELF_SERVICE_ACTIONS = (
    "ram:GetUser",
    "ram:ChangePassword",
    "ram:SetRegistryPassword",
    "ram:CreateAccessKey",
    "ram:ListAccessKeys",
    "ram:UpdateAccessKey",
    "ram:DeleteAccessKey",
)
SELF_SERVICE_GLOBAL_ACTIONS = ("sts:GetSessionToken",)


def ram_arn(account_arn_id: str, path: str) -> str:
    """A RAM resource name: ``ram_arn("123", "user/alice")`` → ``acs:ram::123:user/alice``.

    ``*`` (list and create operations) stays ``*``.
    """
    if path == "*":
        return "*"
    return f"acs:ram::{account_arn_id}:{path}"


def self_service_policy(account_arn_id: str, username: str) -> PolicyDocument:
    return PolicyDocument.parse(
        SELF_SERVICE,
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": list(SELF_SERVICE_ACTIONS),
                    "Resource": ram_arn(account_arn_id, f"user/{username}"),
                },
                {"Effect": "Allow", "Action": list(SELF_SERVICE_GLOBAL_ACTIONS), "Resource": "*"},
            ],
        },
    )


def resource_patterns(instance: InstanceRef, name: str) -> tuple[str, ...]:
    """ARN patterns of a namespace (``ns``: itself and everything in it) or a repository
    (``ns/repo``) of a resource set, in the instance's edition form."""
    if "/" in name:
        return (instance.repository_arn(name),)
    return (instance.arn(f"repository/{name}"), instance.arn(f"repository/{name}/*"))


def build_principal(
    username: str,
    user_id: str,
    account_arn_id: str,
    policies: Sequence[tuple[uuid.UUID | None, uuid.UUID, str, dict[str, Any]]],
    scopes: Sequence[tuple[uuid.UUID, str | None, str | None, str | None, str | None]],
) -> Principal:
    """The principal from the rows of the two queries (pure; see :func:`load_principal`)."""
    scoped_groups: dict[uuid.UUID, list[str]] = {}
    for scope_group, instance_id, region, edition, resource in scopes:
        patterns = scoped_groups.setdefault(scope_group, [])
        if instance_id is None or region is None or edition is None or resource is None:
            continue
        instance = InstanceRef(instance_id, region, account_arn_id, edition)
        patterns.extend(p for p in resource_patterns(instance, resource) if p not in patterns)

    parsed: dict[uuid.UUID, PolicyDocument] = {}
    everywhere: list[uuid.UUID] = []
    per_group: dict[uuid.UUID, list[uuid.UUID]] = {}
    for group_id, policy_id, name, document in policies:
        if policy_id not in parsed:
            parsed[policy_id] = PolicyDocument.parse(name, document)
        if group_id is not None and group_id in scoped_groups:
            ids = per_group.setdefault(group_id, [])
            if policy_id not in ids:
                ids.append(policy_id)
        elif policy_id not in everywhere:
            everywhere.append(policy_id)

    # Groups scoped to the same resources share one entry.
    merged: dict[tuple[str, ...], list[uuid.UUID]] = {}
    for group_id in sorted(per_group):
        key = tuple(sorted(scoped_groups[group_id]))
        ids = merged.setdefault(key, [])
        ids.extend(i for i in per_group[group_id] if i not in ids)
    scoped = tuple(
        ScopedPolicies(tuple(parsed[i] for i in ids), resources)
        for resources, ids in merged.items()
    )
    docs = (*(parsed[i] for i in everywhere), self_service_policy(account_arn_id, username))
    return Principal(name=username, user_id=user_id, policies=docs, scoped=scoped)


async def load_principal(session: AsyncSession, user: User, account_arn_id: str) -> Principal:
    """The principal of ``user``: direct roles and group roles (narrowed by resource sets),
    plus SelfService. One SQL statement, two when a group grants a role."""
    policies = await q.policies_reaching_user(session, user.id)
    through_groups = any(group_id is not None for group_id, *_ in policies)
    scopes = await q.resource_set_scopes_of_user(session, user.id) if through_groups else ()
    return build_principal(user.username, str(user.id), account_arn_id, policies, scopes)
