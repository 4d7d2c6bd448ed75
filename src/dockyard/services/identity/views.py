"""Who asks, and what the identity services answer: read models with their entity tags,
and how rows become them (in batches, so a page costs the same few queries as one row)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata import models
from dockyard.metadata.queries import identity as q
from dockyard.policy import Decision
from dockyard.services.identity.peers import Actor, Principal
from dockyard.services.identity.rules import is_administrator
from dockyard.services.paging import Tagged

_Row = TypeVar("_Row")
_View = TypeVar("_View")

#: Rows to their views, in one batch.
Views = Callable[[AsyncSession, Sequence[_Row]], Awaitable[list[_View]]]


async def view_of(views: Views[_Row, _View], session: AsyncSession, row: _Row) -> _View:
    """The view of one row, by the batch that makes pages."""
    return (await views(session, [row]))[0]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a change: their audit identity and whether they are an administrator."""

    name: str
    user_id: str | None = None
    source_ip: str = ""
    administrator: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(self.name or "anonymous", self.user_id, self.source_ip)

    @classmethod
    def of(cls, principal: Principal, source_ip: str = "") -> Caller:
        return cls(
            principal.name or "anonymous",
            principal.user_id,
            source_ip,
            is_administrator(principal),
        )


SYSTEM = Caller("system", administrator=True)


@dataclass(frozen=True, slots=True)
class OrganizationView(Tagged):
    id: str
    name: str
    description: str
    parent_id: str | None
    created_at: datetime

    tagged: ClassVar[str] = "id name description parent_id"


@dataclass(frozen=True, slots=True)
class UserView(Tagged):
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
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    mfa_required: bool
    mfa_bound: bool
    must_change_password: bool
    disabled: bool
    created_at: datetime
    updated_at: datetime

    tagged: ClassVar[str] = (
        "id display_name organization_id email phone landline notify_email "
        "logon_policy roles groups mfa_required mfa_bound disabled updated_at"
    )


@dataclass(frozen=True, slots=True)
class NamedView(Tagged):
    """What every named identity row shows."""

    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GroupView(NamedView):
    organization_id: str
    members: tuple[str, ...]
    roles: tuple[str, ...]
    resource_sets: tuple[str, ...]

    tagged: ClassVar[str] = "id name organization_id description members roles resource_sets"


@dataclass(frozen=True, slots=True)
class NamespaceMember:
    instance_id: str
    namespace: str


@dataclass(frozen=True, slots=True)
class RepositoryMember:
    instance_id: str
    namespace: str
    repository: str
    full_name: str

    @classmethod
    def of(cls, instance_id: str, full_name: str) -> RepositoryMember:
        namespace, _, repository = full_name.partition("/")
        return cls(instance_id, namespace, repository, full_name)


@dataclass(frozen=True, slots=True)
class ResourceSetView(NamedView):
    organization_id: str | None
    groups: tuple[str, ...]
    namespaces: tuple[NamespaceMember, ...]
    repositories: tuple[RepositoryMember, ...]

    tagged: ClassVar[str] = "id name organization_id description groups namespaces repositories"


@dataclass(frozen=True, slots=True)
class SharedView(NamedView):
    """A role or policy: who may attach it, and whether it is built in."""

    sharing_scope: str
    builtin: bool
    organization_id: str | None


@dataclass(frozen=True, slots=True)
class RoleView(SharedView):
    policies: tuple[str, ...]

    tagged: ClassVar[str] = "id name description sharing_scope policies"


@dataclass(frozen=True, slots=True)
class PolicyView(SharedView):
    document: dict[str, Any]

    tagged: ClassVar[str] = "id name description document sharing_scope"


@dataclass(frozen=True, slots=True)
class LogonPolicyView(NamedView):
    time_windows: tuple[dict[str, str], ...]
    cidrs: tuple[str, ...]

    tagged: ClassVar[str] = "id name description time_windows cidrs"


@dataclass(frozen=True, slots=True)
class Simulation:
    """The "why" of one decision: allowed, and which policy statement decided."""

    allowed: bool
    reason: str
    policy: str | None
    statement: int | None

    @classmethod
    def of(cls, decision: Decision) -> Simulation:
        return cls(decision.allowed, decision.reason, decision.policy, decision.statement)


# ---- rows to views ------------------------------------------------------------------------


def _from_row(view: type[_View], row: Any, **computed: Any) -> _View:
    """The view of a row: each field is the row's column of that name (ids as strings)
    unless ``computed`` gives it."""
    values = {}
    for field in fields(cast(Any, view)):
        value = computed[field.name] if field.name in computed else getattr(row, field.name)
        values[field.name] = str(value) if isinstance(value, uuid.UUID) else value
    return view(**values)


async def organization_views(
    _session: AsyncSession, rows: Sequence[models.Organization]
) -> list[OrganizationView]:
    return [_from_row(OrganizationView, r) for r in rows]


async def user_views(session: AsyncSession, rows: Sequence[models.User]) -> list[UserView]:
    ids = [r.id for r in rows]
    roles = await q.names_by(session, models.UserRole, "user_id", ids, models.Role, "role_id")
    groups = await q.names_by(
        session, models.GroupMember, "user_id", ids, models.UserGroup, "group_id"
    )
    logon = await q.names_of(session, models.LogonPolicy, [r.logon_policy_id for r in rows])
    return [
        _from_row(
            UserView,
            r,
            chat_webhook_key_set=r.chat_webhook_key_encrypted is not None,
            logon_policy=logon.get(r.logon_policy_id) if r.logon_policy_id else None,
            roles=tuple(roles.get(r.id, ())),
            groups=tuple(groups.get(r.id, ())),
            mfa_bound=r.mfa_bound_at is not None,
        )
        for r in rows
    ]


async def group_views(session: AsyncSession, rows: Sequence[models.UserGroup]) -> list[GroupView]:
    ids = [r.id for r in rows]
    members = await q.names_by(session, models.GroupMember, "group_id", ids, models.User, "user_id")
    roles = await q.names_by(session, models.GroupRole, "group_id", ids, models.Role, "role_id")
    sets = await q.names_by(
        session, models.ResourceSetGroup, "group_id", ids, models.ResourceSet, "resource_set_id"
    )
    return [
        _from_row(
            GroupView,
            r,
            members=tuple(members.get(r.id, ())),
            roles=tuple(roles.get(r.id, ())),
            resource_sets=tuple(sets.get(r.id, ())),
        )
        for r in rows
    ]


async def resource_set_views(
    session: AsyncSession, rows: Sequence[models.ResourceSet]
) -> list[ResourceSetView]:
    ids = [r.id for r in rows]
    groups = await q.names_by(
        session, models.ResourceSetGroup, "resource_set_id", ids, models.UserGroup, "group_id"
    )
    members = await q.resource_set_members(session, ids)
    out = []
    for r in rows:
        namespaces, repositories = members.get(r.id, ([], []))
        out.append(
            _from_row(
                ResourceSetView,
                r,
                groups=tuple(groups.get(r.id, ())),
                namespaces=tuple(NamespaceMember(iid, ns) for iid, ns in namespaces),
                repositories=tuple(RepositoryMember.of(iid, full) for iid, full in repositories),
            )
        )
    return out


async def role_views(session: AsyncSession, rows: Sequence[models.Role]) -> list[RoleView]:
    policies = await q.names_by(
        session, models.RolePolicy, "role_id", [r.id for r in rows], models.Policy, "policy_id"
    )
    return [_from_row(RoleView, r, policies=tuple(policies.get(r.id, ()))) for r in rows]


async def policy_views(_session: AsyncSession, rows: Sequence[models.Policy]) -> list[PolicyView]:
    return [_from_row(PolicyView, r, document=dict(r.document)) for r in rows]


async def logon_policy_views(
    _session: AsyncSession, rows: Sequence[models.LogonPolicy]
) -> list[LogonPolicyView]:
    return [
        _from_row(
            LogonPolicyView,
            r,
            time_windows=tuple(dict(w) for w in r.time_windows or ()),
            cidrs=tuple(r.cidrs or ()),
        )
        for r in rows
    ]
