"""Identity management (PRODUCT.md §3): organizations, users, user groups, resource sets,
roles, policies and logon policies, and the "why" of an authorization decision.

Rules kept here, whatever the face:

* Organizations form a tree: every one but the root has an existing parent, re-parenting
  never makes a cycle, and one with child organizations, users or groups is not deleted.
* Users and groups are created inside an existing organization.
* At most :data:`MAX_ROLES` roles exist in total (built-in ones count) and a role carries
  at most :data:`MAX_ROLE_POLICIES` policies. Every identity change takes the account
  row's lock first (``lock_account``), so "count, then insert" cannot overshoot and
  concurrent changes cannot both remove the last administrator.
* Built-in roles and policies are neither modified nor deleted, and the built-in
  ``Administrator`` role always keeps at least one enabled user (directly or through a
  group).
* Sharing scope (``global | organization | subtree``) decides who may attach a role to a
  user or group, or a policy to a role; it never changes evaluation. Roles and policies
  made by an administrator (a principal holding ``AdministratorAccess``) are always global,
  and administrators may attach anything **(design)**.
* Every change writes its audit row in its own transaction (``AuditLog.change``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DeniedError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from dockyard.metadata.models import (
    Account,
    GroupMember,
    GroupRole,
    LogonPolicy,
    Organization,
    Policy,
    ResourceSet,
    ResourceSetGroup,
    Role,
    RolePolicy,
    User,
    UserGroup,
    UserRole,
)
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.policy import Decision, PolicyDocument
from dockyard.policy.engine import BUILTIN_POLICIES
from dockyard.services.access import Principal, Resource, authorize
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.credentials import (
    ACCESS_KEY_ID_RE,
    STS_PREFIX,
    TEMP_USERNAME,
    hash_password,
)
from dockyard.services.logon import validate_logon_policy
from dockyard.services.principals import load_principal, ram_arn
from dockyard.services.secrets import MasterKey

# One rule for initial, changed and reset console passwords (the sign-in service's).
from dockyard.services.signin import check_password_complexity
from dockyard.services.tenancy import Page, PageRequest, _etag, check_etag

MAX_ROLES = 20
MAX_ROLE_POLICIES = 5
POLICY_NAME_MAX = 15
DESCRIPTION_MAX = 512
ADMINISTRATOR_ROLE = "Administrator"
ADMINISTRATOR_POLICY = "AdministratorAccess"
SHARING_SCOPES = ("global", "organization", "subtree")
CHAT_WEBHOOK_PURPOSE = "chat-webhook-key"

USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DISPLAY_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9-]{3,18}[0-9]$")
LANDLINE_RE = re.compile(r"^[0-9-]{4,20}$")
GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,255}$")
ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
POLICY_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
SET_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LOGON_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# ---- pure checks --------------------------------------------------------------------------


def _match(regex: re.Pattern[str], value: str, field: str, rule: str) -> str:
    if not regex.fullmatch(value):
        raise InvalidInputError(f"invalid {field} {value!r}: {rule}")
    return value


def check_username(value: str) -> str:
    _match(USERNAME_RE, value, "username", "1-64 of letters, digits, '-', '_', '.'")
    # HTTP Basic reads these shapes as access-key and STS ids, and cr_temp_user is the
    # temporary docker login: a user so named could never sign in with a password.
    if ACCESS_KEY_ID_RE.fullmatch(value) or value.startswith(STS_PREFIX) or value == TEMP_USERNAME:
        raise InvalidInputError(
            f"invalid username {value!r}: reserved (the shape of an access-key or STS id, "
            "or the temporary login name)"
        )
    return value


def check_display_name(value: str) -> str:
    return _match(
        DISPLAY_NAME_RE, value, "displayName", "1-128 of letters, digits, '-', '_', '.', '@'"
    )


def check_email(value: str) -> str:
    if len(value) > 255 or not EMAIL_RE.fullmatch(value) or not value.isprintable():
        raise InvalidInputError(
            f"invalid email {value!r}: one '@' and a domain with a dot, e.g. alice@example.com"
        )
    return value


def check_phone(value: str) -> str:
    return _match(PHONE_RE, value, "phone", "5-20 digits and '-', optionally after a leading '+'")


def check_landline(value: str) -> str:
    if value == "":
        return value
    if not LANDLINE_RE.fullmatch(value) or not any(c.isdigit() for c in value):
        raise InvalidInputError(f"invalid landline {value!r}: 4-20 of digits and '-'")
    return value


def check_group_name(value: str) -> str:
    return _match(
        GROUP_NAME_RE, value, "group name", "3-255 of letters, digits, '_', '-', '.', '@'"
    )


def check_role_name(value: str) -> str:
    return _match(ROLE_NAME_RE, value, "role name", "1-64 of letters, digits, '_', '-', '.', '@'")


def check_policy_name(value: str) -> str:
    if len(value) > POLICY_NAME_MAX:
        raise InvalidInputError(
            f"invalid policy name {value!r}: at most {POLICY_NAME_MAX} characters "
            f"(it has {len(value)})"
        )
    return _match(POLICY_NAME_RE, value, "policy name", "1-15 of letters, digits, '_', '-', '.'")


def check_set_name(value: str) -> str:
    return _match(SET_NAME_RE, value, "resource set name", "1-64 of letters, digits, '_', '-', '.'")


def check_logon_name(value: str) -> str:
    return _match(
        LOGON_NAME_RE, value, "logon policy name", "1-64 of letters, digits, '_', '-', '.'"
    )


def check_organization_name(value: str) -> str:
    if not (1 <= len(value) <= 128 and value.strip() == value and value.isprintable()):
        raise InvalidInputError(
            f"invalid organization name {value!r}: 1-128 printable characters, "
            "no leading or trailing spaces"
        )
    return value


def _no_control(value: str, field: str, allowed: str = "") -> None:
    if any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in value):
        raise InvalidInputError(f"{field} may not contain control characters")


def check_description(value: str | None) -> None:
    if value is None:
        return
    if len(value) > DESCRIPTION_MAX:
        raise InvalidInputError(f"description is at most {DESCRIPTION_MAX} characters")
    _no_control(value, "description", "\t\n\r")


def check_sharing_scope(value: str) -> str:
    if value not in SHARING_SCOPES:
        raise InvalidInputError(
            f"sharingScope must be one of {', '.join(SHARING_SCOPES)}, not {value!r}"
        )
    return value


def parse_policy_document(name: str, document: Any) -> PolicyDocument:
    """Validate a policy document; errors name the statement (``Statement[1].Effect``)."""
    try:
        return PolicyDocument.parse(name, document)
    except InvalidInputError as exc:
        raise InvalidInputError(f"invalid policy document: {exc.message}") from exc


def _unusable(name: str) -> bool:
    """A name no row can have (control characters, absurd length): not looked up."""
    return len(name) > 300 or any(ord(c) < 32 or ord(c) == 127 for c in name)


def is_administrator(principal: Principal) -> bool:
    """Whether the principal holds ``AdministratorAccess`` (everywhere, not through sets)."""
    return any(doc.name == ADMINISTRATOR_POLICY for doc in principal.policies)


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInputError(
            f"{field} must be an organization id (a UUID), not {value!r}"
        ) from None


# ---- who asks, and views -------------------------------------------------------------------


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
class OrganizationView:
    id: str
    name: str
    description: str
    parent_id: str | None
    created_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.id, self.name, self.description, self.parent_id)


@dataclass(frozen=True, slots=True)
class UserView:
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

    @property
    def etag(self) -> str:
        return _etag(
            self.id,
            self.display_name,
            self.organization_id,
            self.email,
            self.phone,
            self.landline,
            self.notify_email,
            self.logon_policy,
            self.roles,
            self.groups,
            self.mfa_required,
            self.mfa_bound,
            self.disabled,
            self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class GroupView:
    id: str
    name: str
    organization_id: str
    description: str
    members: tuple[str, ...]
    roles: tuple[str, ...]
    resource_sets: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(
            self.id,
            self.name,
            self.organization_id,
            self.description,
            self.members,
            self.roles,
            self.resource_sets,
        )


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


def _repository_member(instance_id: str, full_name: str) -> RepositoryMember:
    namespace, _, repository = full_name.partition("/")
    return RepositoryMember(instance_id, namespace, repository, full_name)


@dataclass(frozen=True, slots=True)
class ResourceSetView:
    id: str
    name: str
    organization_id: str | None
    description: str
    groups: tuple[str, ...]
    namespaces: tuple[NamespaceMember, ...]
    repositories: tuple[RepositoryMember, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(
            self.id,
            self.name,
            self.organization_id,
            self.description,
            self.groups,
            self.namespaces,
            self.repositories,
        )


@dataclass(frozen=True, slots=True)
class RoleView:
    id: str
    name: str
    description: str
    sharing_scope: str
    builtin: bool
    organization_id: str | None
    policies: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.id, self.name, self.description, self.sharing_scope, self.policies)


@dataclass(frozen=True, slots=True)
class PolicyView:
    id: str
    name: str
    description: str
    document: dict[str, Any]
    sharing_scope: str
    builtin: bool
    organization_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.id, self.name, self.description, self.document, self.sharing_scope)


@dataclass(frozen=True, slots=True)
class LogonPolicyView:
    id: str
    name: str
    description: str
    time_windows: tuple[dict[str, str], ...]
    cidrs: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.id, self.name, self.description, self.time_windows, self.cidrs)


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


@dataclass(frozen=True, slots=True)
class UserCreate:
    username: str
    display_name: str
    organization_id: str
    email: str
    phone: str
    password: str
    landline: str = ""
    notify_email: bool = True
    chat_webhook_key: str | None = None
    logon_policy: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserChanges:
    """``None``: unchanged. ``landline=""`` clears it, ``logon_policy=""`` selects the
    default policy, ``chat_webhook_key=""`` removes the key."""

    display_name: str | None = None
    organization_id: str | None = None
    email: str | None = None
    phone: str | None = None
    landline: str | None = None
    notify_email: bool | None = None
    chat_webhook_key: str | None = None
    logon_policy: str | None = None
    disabled: bool | None = None


# ---- link rows ----------------------------------------------------------------------------

#: The view a link change returns (of its owner).
_View = TypeVar("_View")


@dataclass(frozen=True, slots=True)
class _End:
    """One end of a link row: its model, how errors name it, its RAM kind (the audit row's
    path, or its detail key) and its column in the link row."""

    model: type[Any]
    what: str
    kind: str
    key: str


_USER = _End(User, "user", "user", "user_id")
_GROUP = _End(UserGroup, "group", "group", "group_id")
_ROLE = _End(Role, "role", "role", "role_id")
_POLICY = _End(Policy, "policy", "policy", "policy_id")
_RESOURCE_SET = _End(ResourceSet, "resource set", "resourceset", "resource_set_id")


@dataclass(frozen=True, slots=True)
class _Link:
    """One kind of link: attaching ``other`` to ``owner``, which is touched, audited and
    returned. ``missing`` (with ``{owner}`` and ``{other}``) is the detach's not-found error."""

    model: type[Any]
    owner: _End
    other: _End
    attach: str
    detach: str
    missing: str
    #: Attaching checks the other end's sharing scope.
    scoped: bool = False
    #: Detaching may take the built-in Administrator role from its last enabled user.
    keeps_administrator: bool = False
    #: The owner is a role, and built-in roles are not modified.
    owner_not_builtin: bool = False


_USER_ROLE = _Link(
    UserRole,
    _USER,
    _ROLE,
    "ram:AttachRoleToUser",
    "ram:DetachRoleFromUser",
    "user {owner} does not hold role {other} directly",
    scoped=True,
    keeps_administrator=True,
)
_GROUP_MEMBER = _Link(
    GroupMember,
    _GROUP,
    _USER,
    "ram:AddUserToGroup",
    "ram:RemoveUserFromGroup",
    "user {other} is not a member of group {owner}",
    keeps_administrator=True,
)
_GROUP_ROLE = _Link(
    GroupRole,
    _GROUP,
    _ROLE,
    "ram:AttachRoleToGroup",
    "ram:DetachRoleFromGroup",
    "group {owner} does not hold role {other}",
    scoped=True,
    keeps_administrator=True,
)
_SET_GROUP = _Link(
    ResourceSetGroup,
    _RESOURCE_SET,
    _GROUP,
    "ram:LinkResourceSetToGroup",
    "ram:UnlinkResourceSetFromGroup",
    "group {other} is not linked to resource set {owner}",
)
_ROLE_POLICY = _Link(
    RolePolicy,
    _ROLE,
    _POLICY,
    "ram:AttachPolicyToRole",
    "ram:DetachPolicyFromRole",
    "role {owner} does not carry policy {other}",
    scoped=True,
    owner_not_builtin=True,
)


# ---- the service ------------------------------------------------------------------------


class IdentityService:
    def __init__(self, db: Database, audit: AuditLog, master: MasterKey | None = None) -> None:
        self._db = db
        self._audit = audit
        self._master = master
        self._arn_id: str | None = None

    # -- plumbing ------------------------------------------------------------------------

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[tuple[AsyncSession, Account]]:
        """A write transaction holding the account lock (identity changes take turns)."""
        async with self._db.write() as session:
            account = await q.lock_account(session)
            if account is None:
                raise RuntimeError("no account: the first-start setup has not run")
            try:
                yield session, account
                await session.flush()
            except IntegrityError as exc:
                raise ConflictError(
                    "the change conflicts with existing rows (a name already taken, or a "
                    "reference still in use)"
                ) from exc

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[tuple[AsyncSession, Account]]:
        async with self._db.read() as session:
            account = await tq.find_account(session)
            if account is None:
                raise RuntimeError("no account: the first-start setup has not run")
            yield session, account

    async def _changed(
        self,
        session: AsyncSession,
        account: Account,
        caller: Caller,
        action: str,
        path: str,
        **detail: Any,
    ) -> None:
        await self._audit.change(
            session, caller.actor, action, ram_arn(account.arn_id, path), detail or None
        )

    @staticmethod
    async def _get(
        session: AsyncSession, model: type[Any], account: Account, name: str, what: str
    ) -> Any:
        row = None if _unusable(name) else await q.find_named(session, model, account.id, name)
        if row is None:
            raise NotFoundError(f"{what} {name!r} does not exist")
        return row

    async def _organization(
        self, session: AsyncSession, account: Account, organization_id: str, field: str
    ) -> Organization:
        row = await q.find_by_id(session, Organization, account.id, _uuid(organization_id, field))
        if row is None:
            raise NotFoundError(f"{field}: organization {organization_id} does not exist")
        return row

    async def account_arn_id(self) -> str:
        """The account id of RAM resource names (it never changes, so it is kept)."""
        if self._arn_id is None:
            async with self._read() as (_session, account):
                self._arn_id = account.arn_id
        return self._arn_id

    async def ram_arn(self, path: str) -> str:
        """``acs:ram::$account:$path`` (``*`` stays ``*``)."""
        return ram_arn(await self.account_arn_id(), path)

    # -- sharing scope -------------------------------------------------------------------

    async def _check_attach(
        self, session: AsyncSession, account: Account, caller: Caller, row: Role | Policy
    ) -> None:
        kind = "role" if isinstance(row, Role) else "policy"
        scope = row.sharing_scope
        if scope == "global" or caller.administrator or row.organization_id is None:
            return
        tree = await q.organization_tree(session, account.id)
        mine: uuid.UUID | None = None
        if caller.user_id is not None:
            me = await session.get(User, uuid.UUID(caller.user_id))
            mine = me.organization_id if me is not None else None
        names = await q.names_of(session, Organization, [row.organization_id])
        owner = names.get(row.organization_id, str(row.organization_id))
        if scope == "organization":
            if mine == row.organization_id:
                return
            raise DeniedError(
                f"{kind} {row.name} is shared with organization {owner} only "
                f"(sharingScope organization): {caller.name} may not attach it"
            )
        node = mine
        seen: set[uuid.UUID] = set()
        while node is not None and node not in seen:
            if node == row.organization_id:
                return
            seen.add(node)
            node = tree.get(node)
        raise DeniedError(
            f"{kind} {row.name} is shared with organization {owner} and its subordinate "
            f"organizations only (sharingScope subtree): {caller.name} may not attach it"
        )

    async def _caller_organization(self, session: AsyncSession, caller: Caller) -> uuid.UUID | None:
        if caller.user_id is None:
            return None
        me = await session.get(User, uuid.UUID(caller.user_id))
        return me.organization_id if me is not None else None

    async def _scope_for(
        self, session: AsyncSession, account: Account, row: Role | Policy, wanted: str
    ) -> str:
        """The sharing scope a role or policy may have: always global when an administrator
        made it (or the system did), else what is asked."""
        if row.created_by is None:
            return "global"
        creator = await session.get(User, row.created_by)
        if creator is None:
            return wanted
        principal = await load_principal(session, creator, account.arn_id)
        return "global" if is_administrator(principal) else wanted

    async def _keep_an_administrator(self, session: AsyncSession, account: Account) -> None:
        role = await q.find_named(session, Role, account.id, ADMINISTRATOR_ROLE)
        if role is None or not role.builtin:
            return
        await session.flush()
        if await q.count_administrators(session, role.id) == 0:
            raise ConflictError(
                f"refused: this would leave no enabled user holding the built-in "
                f"{ADMINISTRATOR_ROLE} role (the last administrator cannot lose it)"
            )

    # -- link rows -----------------------------------------------------------------------

    async def _ends(
        self, session: AsyncSession, account: Account, link: _Link, owner: str, other: str
    ) -> tuple[Any, Any, dict[str, uuid.UUID]]:
        """Both rows of a link, the owner's errors first, and the link row's key."""
        owner_row = await self._get(session, link.owner.model, account, owner, link.owner.what)
        if link.owner_not_builtin:
            self._not_builtin(owner_row, "modified")
        other_row = await self._get(session, link.other.model, account, other, link.other.what)
        return owner_row, other_row, {link.owner.key: owner_row.id, link.other.key: other_row.id}

    async def _link(
        self,
        caller: Caller,
        link: _Link,
        owner: str,
        other: str,
        view: Callable[[AsyncSession, Any], Awaitable[_View]],
        room: Callable[[AsyncSession, Any, Any], Awaitable[bool]] | None = None,
    ) -> _View:
        """Attach ``other`` to ``owner``; a link already there is no change (no audit row).

        ``room`` runs just before the insert: False when the link is there already, and it
        raises when the owner has no room for another.
        """
        async with self._write() as (session, account):
            owner_row, other_row, key = await self._ends(session, account, link, owner, other)
            if link.scoped:
                await self._check_attach(session, account, caller, other_row)
            if (room is None or await room(session, owner_row, other_row)) and await q.add_link(
                session, link.model(**key)
            ):
                await q.touch(session, owner_row)
                await self._changed(
                    session,
                    account,
                    caller,
                    link.attach,
                    f"{link.owner.kind}/{owner}",
                    **{link.other.kind: other},
                )
            return await view(session, owner_row)

    async def _unlink(
        self,
        caller: Caller,
        link: _Link,
        owner: str,
        other: str,
        view: Callable[[AsyncSession, Any], Awaitable[_View]],
    ) -> _View:
        """Detach ``other`` from ``owner``: NotFoundError when they are not linked."""
        async with self._write() as (session, account):
            owner_row, _other_row, key = await self._ends(session, account, link, owner, other)
            if not await q.remove_link(session, link.model, **key):
                raise NotFoundError(link.missing.format(owner=owner, other=other))
            await q.touch(session, owner_row)
            if link.keeps_administrator:
                await self._keep_an_administrator(session, account)
            await self._changed(
                session,
                account,
                caller,
                link.detach,
                f"{link.owner.kind}/{owner}",
                **{link.other.kind: other},
            )
            return await view(session, owner_row)

    # ---- organizations --------------------------------------------------------------------

    @staticmethod
    def _organization_view(row: Organization) -> OrganizationView:
        return OrganizationView(
            str(row.id),
            row.name,
            row.description,
            str(row.parent_id) if row.parent_id else None,
            row.created_at,
        )

    async def create_organization(
        self, caller: Caller, name: str, parent_id: str, description: str = ""
    ) -> OrganizationView:
        check_organization_name(name)
        check_description(description)
        async with self._write() as (session, account):
            parent = await self._organization(session, account, parent_id, "parentId")
            if await q.find_named(session, Organization, account.id, name) is not None:
                raise AlreadyExistsError(f"organization {name} already exists")
            row = Organization(
                account_id=account.id, parent_id=parent.id, name=name, description=description
            )
            q.add(session, row)
            await q.flush(session)
            await self._changed(
                session,
                account,
                caller,
                "ram:CreateOrganization",
                f"organization/{row.id}",
                name=name,
                parentId=str(parent.id),
            )
            return self._organization_view(row)

    async def list_organizations(
        self, page: PageRequest, parent_id: str | None = None
    ) -> Page[OrganizationView]:
        async with self._read() as (session, account):
            parent = _uuid(parent_id, "parentId") if parent_id else None
            rows, total = await q.list_organizations(
                session, account.id, parent, page.offset, page.page_size
            )
            items = [self._organization_view(r) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def get_organization(self, organization_id: str) -> OrganizationView:
        async with self._read() as (session, account):
            row = await self._organization(session, account, organization_id, "organization")
            return self._organization_view(row)

    async def update_organization(
        self,
        caller: Caller,
        organization_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        parent_id: str | None = None,
        if_match: str | None = None,
    ) -> OrganizationView:
        if name is not None:
            check_organization_name(name)
        check_description(description)
        async with self._write() as (session, account):
            row = await self._organization(session, account, organization_id, "organization")
            check_etag(self._organization_view(row).etag, if_match)
            values: dict[str, Any] = {}
            if name is not None and name != row.name:
                if await q.find_named(session, Organization, account.id, name) is not None:
                    raise AlreadyExistsError(f"organization {name} already exists")
                values["name"] = name
            if description is not None:
                values["description"] = description
            if parent_id is not None:
                parent = await self._organization(session, account, parent_id, "parentId")
                if row.parent_id is None:
                    raise InvalidInputError("parentId: the root organization has no parent")
                tree = await q.organization_tree(session, account.id)
                node: uuid.UUID | None = parent.id
                while node is not None:
                    if node == row.id:
                        raise InvalidInputError(
                            f"parentId: organization {parent.name} is {row.name} itself or "
                            f"one of its subordinates; the tree may not have a cycle"
                        )
                    node = tree.get(node)
                values["parent_id"] = parent.id
            for key, value in values.items():
                setattr(row, key, value)
            await q.flush(session)
            await self._changed(
                session,
                account,
                caller,
                "ram:UpdateOrganization",
                f"organization/{row.id}",
                fields=sorted(values),
            )
            return self._organization_view(row)

    async def delete_organization(self, caller: Caller, organization_id: str) -> None:
        async with self._write() as (session, account):
            row = await self._organization(session, account, organization_id, "organization")
            if row.parent_id is None:
                raise ConflictError("the root organization cannot be deleted")
            usage = await q.organization_usage(session, row.id)
            held = [f"{n} {what}" for what, n in usage.items() if n]
            if held:
                raise ConflictError(
                    f"organization {row.name} still has {', '.join(held)}; "
                    "move or delete them first (roles, policies, resource sets, namespaces "
                    "and repositories count when they belong to it)"
                )
            await q.delete_row(session, row)
            await self._changed(
                session,
                account,
                caller,
                "ram:DeleteOrganization",
                f"organization/{row.id}",
                name=row.name,
            )

    # ---- users -----------------------------------------------------------------------------

    async def _user_views(self, session: AsyncSession, rows: Sequence[User]) -> list[UserView]:
        ids = [r.id for r in rows]
        roles = await q.names_by(session, UserRole, "user_id", ids, Role, "role_id")
        groups = await q.names_by(session, GroupMember, "user_id", ids, UserGroup, "group_id")
        logon = await q.names_of(session, LogonPolicy, [r.logon_policy_id for r in rows])
        return [
            UserView(
                str(r.id),
                r.username,
                r.display_name,
                str(r.organization_id) if r.organization_id else None,
                r.email,
                r.phone,
                r.landline,
                r.notify_email,
                r.chat_webhook_key_encrypted is not None,
                logon.get(r.logon_policy_id) if r.logon_policy_id else None,
                tuple(roles.get(r.id, ())),
                tuple(groups.get(r.id, ())),
                r.mfa_required,
                r.mfa_bound_at is not None,
                r.must_change_password,
                r.disabled,
                r.created_at,
                r.updated_at,
            )
            for r in rows
        ]

    async def _user_view(self, session: AsyncSession, row: User) -> UserView:
        return (await self._user_views(session, [row]))[0]

    def _encrypt_webhook(self, key: str) -> bytes | None:
        if key == "":
            return None
        if len(key) > 512:
            raise InvalidInputError("chatWebhookKey is at most 512 characters")
        _no_control(key, "chatWebhookKey")
        if self._master is None:
            raise RuntimeError("no master key: chat webhook keys cannot be stored")
        return self._master.encrypt(key.encode(), CHAT_WEBHOOK_PURPOSE)

    async def _logon_policy_id(
        self, session: AsyncSession, account: Account, name: str | None
    ) -> uuid.UUID | None:
        if not name:
            return None
        row = (
            None if _unusable(name) else await q.find_named(session, LogonPolicy, account.id, name)
        )
        if row is None:
            raise NotFoundError(f"logonPolicy: logon policy {name} does not exist")
        return row.id

    async def create_user(self, caller: Caller, spec: UserCreate) -> UserView:
        check_username(spec.username)
        check_display_name(spec.display_name)
        check_email(spec.email)
        check_phone(spec.phone)
        check_landline(spec.landline)
        check_password_complexity(spec.password)
        webhook = self._encrypt_webhook(spec.chat_webhook_key or "")
        hashed = await anyio.to_thread.run_sync(hash_password, spec.password)
        async with self._write() as (session, account):
            org = await self._organization(session, account, spec.organization_id, "organizationId")
            if await q.find_user(session, account.id, spec.username) is not None:
                raise AlreadyExistsError(f"user {spec.username} already exists")
            logon_id = await self._logon_policy_id(session, account, spec.logon_policy)
            roles = await self._roles_by_name(session, account, spec.roles)
            for role in roles:
                await self._check_attach(session, account, caller, role)
            row = User(
                account_id=account.id,
                organization_id=org.id,
                username=spec.username,
                display_name=spec.display_name,
                email=spec.email,
                phone=spec.phone,
                landline=spec.landline,
                notify_email=spec.notify_email,
                chat_webhook_key_encrypted=webhook,
                logon_policy_id=logon_id,
                password_hash=hashed,
                must_change_password=True,
            )
            q.add(session, row)
            await q.flush(session)
            for role in roles:
                await q.add_link(session, UserRole(user_id=row.id, role_id=role.id))
            await self._changed(
                session,
                account,
                caller,
                "ram:CreateUser",
                f"user/{row.username}",
                organizationId=str(org.id),
                roles=[r.name for r in roles],
            )
            return await self._user_view(session, row)

    async def _roles_by_name(
        self, session: AsyncSession, account: Account, names: Sequence[str]
    ) -> list[Role]:
        found = await q.find_names(
            session, Role, account.id, [n for n in names if not _unusable(n)]
        )
        missing = sorted(set(names) - {r.name for r in found})
        if missing:
            raise NotFoundError(f"roles: role {', '.join(missing)} does not exist")
        return sorted(found, key=lambda r: r.name)

    async def list_users(
        self, page: PageRequest, organization_id: str | None = None
    ) -> Page[UserView]:
        async with self._read() as (session, account):
            org = _uuid(organization_id, "organizationId") if organization_id else None
            rows, total = await q.list_users(session, account.id, org, page.offset, page.page_size)
            items = await self._user_views(session, rows)
        return Page(items, page.page, page.page_size, total)

    async def get_user(self, username: str) -> UserView:
        async with self._read() as (session, account):
            row = await self._get(session, User, account, username, "user")
            return await self._user_view(session, row)

    async def update_user(
        self,
        caller: Caller,
        username: str,
        changes: UserChanges,
        if_match: str | None = None,
    ) -> UserView:
        c = changes
        if c.display_name is not None:
            check_display_name(c.display_name)
        if c.email is not None:
            check_email(c.email)
        if c.phone is not None:
            check_phone(c.phone)
        if c.landline is not None:
            check_landline(c.landline)
        webhook = None if c.chat_webhook_key is None else self._encrypt_webhook(c.chat_webhook_key)
        async with self._write() as (session, account):
            row: User = await self._get(session, User, account, username, "user")
            check_etag((await self._user_view(session, row)).etag, if_match)
            values: dict[str, Any] = {
                k: v
                for k, v in (
                    ("display_name", c.display_name),
                    ("email", c.email),
                    ("phone", c.phone),
                    ("landline", c.landline),
                    ("notify_email", c.notify_email),
                )
                if v is not None
            }
            if c.chat_webhook_key is not None:
                values["chat_webhook_key_encrypted"] = webhook
            if c.organization_id is not None:
                org = await self._organization(
                    session, account, c.organization_id, "organizationId"
                )
                values["organization_id"] = org.id
            if c.logon_policy is not None:
                values["logon_policy_id"] = await self._logon_policy_id(
                    session, account, c.logon_policy
                )
            if c.disabled is not None and c.disabled != row.disabled:
                values["disabled"] = c.disabled
                if c.disabled:
                    values["session_epoch"] = row.session_epoch + 1
            await q.touch(session, row, **values)
            if c.disabled:
                await self._keep_an_administrator(session, account)
            await self._changed(
                session,
                account,
                caller,
                "ram:UpdateUser",
                f"user/{row.username}",
                fields=sorted(k for k in values if k != "session_epoch"),
            )
            return await self._user_view(session, row)

    async def delete_user(self, caller: Caller, username: str) -> None:
        async with self._write() as (session, account):
            row: User = await self._get(session, User, account, username, "user")
            for model in (UserRole, GroupMember):
                await q.delete_where(session, model, model.user_id == row.id)
            await q.delete_row(session, row)
            await self._keep_an_administrator(session, account)
            await self._changed(session, account, caller, "ram:DeleteUser", f"user/{username}")

    async def attach_role_to_user(self, caller: Caller, username: str, role_name: str) -> UserView:
        return await self._link(caller, _USER_ROLE, username, role_name, self._user_view)

    async def detach_role_from_user(
        self, caller: Caller, username: str, role_name: str
    ) -> UserView:
        return await self._unlink(caller, _USER_ROLE, username, role_name, self._user_view)

    async def set_user_mfa(self, caller: Caller, username: str, required: bool) -> UserView:
        """Enable or disable MFA; disabling also clears the bound device."""
        async with self._write() as (session, account):
            user: User = await self._get(session, User, account, username, "user")
            values: dict[str, Any] = {"mfa_required": required}
            if not required:
                values.update(mfa_secret_encrypted=None, mfa_bound_at=None, mfa_last_step=0)
            await q.touch(session, user, **values)
            await self._changed(
                session,
                account,
                caller,
                "ram:SetUserMFA",
                f"user/{username}",
                required=required,
            )
            return await self._user_view(session, user)

    async def clear_user_mfa_device(self, caller: Caller, username: str) -> UserView:
        """Forget the bound device: a user with MFA required binds a new one at sign-in."""
        async with self._write() as (session, account):
            user: User = await self._get(session, User, account, username, "user")
            await q.touch(
                session, user, mfa_secret_encrypted=None, mfa_bound_at=None, mfa_last_step=0
            )
            await self._changed(
                session,
                account,
                caller,
                "ram:SetUserMFA",
                f"user/{username}",
                device="cleared",
            )
            return await self._user_view(session, user)

    # ---- groups ----------------------------------------------------------------------------

    async def _group_views(
        self, session: AsyncSession, rows: Sequence[UserGroup]
    ) -> list[GroupView]:
        ids = [r.id for r in rows]
        members = await q.names_by(session, GroupMember, "group_id", ids, User, "user_id")
        roles = await q.names_by(session, GroupRole, "group_id", ids, Role, "role_id")
        sets = await q.names_by(
            session, ResourceSetGroup, "group_id", ids, ResourceSet, "resource_set_id"
        )
        return [
            GroupView(
                str(r.id),
                r.name,
                str(r.organization_id),
                r.description,
                tuple(members.get(r.id, ())),
                tuple(roles.get(r.id, ())),
                tuple(sets.get(r.id, ())),
                r.created_at,
                r.updated_at,
            )
            for r in rows
        ]

    async def _group_view(self, session: AsyncSession, row: UserGroup) -> GroupView:
        return (await self._group_views(session, [row]))[0]

    async def create_group(
        self, caller: Caller, name: str, organization_id: str, description: str = ""
    ) -> GroupView:
        check_group_name(name)
        check_description(description)
        async with self._write() as (session, account):
            org = await self._organization(session, account, organization_id, "organizationId")
            if await q.find_named(session, UserGroup, account.id, name) is not None:
                raise AlreadyExistsError(f"group {name} already exists")
            row = UserGroup(
                account_id=account.id, organization_id=org.id, name=name, description=description
            )
            q.add(session, row)
            await q.flush(session)
            await self._changed(
                session,
                account,
                caller,
                "ram:CreateGroup",
                f"group/{name}",
                organizationId=str(org.id),
            )
            return await self._group_view(session, row)

    async def list_groups(
        self, page: PageRequest, organization_id: str | None = None
    ) -> Page[GroupView]:
        async with self._read() as (session, account):
            org = _uuid(organization_id, "organizationId") if organization_id else None
            rows, total = await q.list_groups(session, account.id, org, page.offset, page.page_size)
            items = await self._group_views(session, rows)
        return Page(items, page.page, page.page_size, total)

    async def get_group(self, name: str) -> GroupView:
        async with self._read() as (session, account):
            row = await self._get(session, UserGroup, account, name, "group")
            return await self._group_view(session, row)

    async def update_group(
        self,
        caller: Caller,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        organization_id: str | None = None,
        if_match: str | None = None,
    ) -> GroupView:
        if new_name is not None:
            check_group_name(new_name)
        check_description(description)
        async with self._write() as (session, account):
            row: UserGroup = await self._get(session, UserGroup, account, name, "group")
            check_etag((await self._group_view(session, row)).etag, if_match)
            values: dict[str, Any] = {}
            if new_name is not None and new_name != row.name:
                if await q.find_named(session, UserGroup, account.id, new_name) is not None:
                    raise AlreadyExistsError(f"group {new_name} already exists")
                values["name"] = new_name
            if description is not None:
                values["description"] = description
            if organization_id is not None:
                org = await self._organization(session, account, organization_id, "organizationId")
                values["organization_id"] = org.id
            await q.touch(session, row, **values)
            await self._changed(
                session, account, caller, "ram:UpdateGroup", f"group/{name}", fields=sorted(values)
            )
            return await self._group_view(session, row)

    async def delete_group(self, caller: Caller, name: str) -> None:
        async with self._write() as (session, account):
            row: UserGroup = await self._get(session, UserGroup, account, name, "group")
            for model in (GroupMember, GroupRole, ResourceSetGroup):
                await q.delete_where(session, model, model.group_id == row.id)
            await q.delete_row(session, row)
            await self._keep_an_administrator(session, account)
            await self._changed(session, account, caller, "ram:DeleteGroup", f"group/{name}")

    async def add_group_member(self, caller: Caller, name: str, username: str) -> GroupView:
        return await self._link(caller, _GROUP_MEMBER, name, username, self._group_view)

    async def remove_group_member(self, caller: Caller, name: str, username: str) -> GroupView:
        return await self._unlink(caller, _GROUP_MEMBER, name, username, self._group_view)

    async def attach_role_to_group(self, caller: Caller, name: str, role_name: str) -> GroupView:
        return await self._link(caller, _GROUP_ROLE, name, role_name, self._group_view)

    async def detach_role_from_group(self, caller: Caller, name: str, role_name: str) -> GroupView:
        return await self._unlink(caller, _GROUP_ROLE, name, role_name, self._group_view)

    # ---- resource sets ---------------------------------------------------------------------

    async def _set_views(
        self, session: AsyncSession, rows: Sequence[ResourceSet]
    ) -> list[ResourceSetView]:
        ids = [r.id for r in rows]
        groups = await q.names_by(
            session, ResourceSetGroup, "resource_set_id", ids, UserGroup, "group_id"
        )
        members = await q.resource_set_members(session, ids)
        out = []
        for r in rows:
            namespaces, repositories = members.get(r.id, ([], []))
            out.append(
                ResourceSetView(
                    str(r.id),
                    r.name,
                    str(r.organization_id) if r.organization_id else None,
                    r.description,
                    tuple(groups.get(r.id, ())),
                    tuple(NamespaceMember(iid, ns) for iid, ns in namespaces),
                    tuple(_repository_member(iid, full) for iid, full in repositories),
                    r.created_at,
                    r.updated_at,
                )
            )
        return out

    async def _set_view(self, session: AsyncSession, row: ResourceSet) -> ResourceSetView:
        return (await self._set_views(session, [row]))[0]

    async def create_resource_set(
        self,
        caller: Caller,
        name: str,
        description: str = "",
        organization_id: str | None = None,
    ) -> ResourceSetView:
        check_set_name(name)
        check_description(description)
        async with self._write() as (session, account):
            org_id = await self._caller_organization(session, caller)
            if organization_id is not None:
                org_id = (
                    await self._organization(session, account, organization_id, "organizationId")
                ).id
            if await q.find_named(session, ResourceSet, account.id, name) is not None:
                raise AlreadyExistsError(f"resource set {name} already exists")
            row = ResourceSet(
                account_id=account.id, organization_id=org_id, name=name, description=description
            )
            q.add(session, row)
            await q.flush(session)
            await self._changed(
                session, account, caller, "ram:CreateResourceSet", f"resourceset/{name}"
            )
            return await self._set_view(session, row)

    async def list_resource_sets(self, page: PageRequest) -> Page[ResourceSetView]:
        async with self._read() as (session, account):
            rows, total = await q.page_of(
                session, ResourceSet, account.id, page.offset, page.page_size
            )
            items = await self._set_views(session, rows)
        return Page(items, page.page, page.page_size, total)

    async def get_resource_set(self, name: str) -> ResourceSetView:
        async with self._read() as (session, account):
            row = await self._get(session, ResourceSet, account, name, "resource set")
            return await self._set_view(session, row)

    async def update_resource_set(
        self,
        caller: Caller,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        organization_id: str | None = None,
        if_match: str | None = None,
    ) -> ResourceSetView:
        if new_name is not None:
            check_set_name(new_name)
        check_description(description)
        async with self._write() as (session, account):
            row: ResourceSet = await self._get(session, ResourceSet, account, name, "resource set")
            check_etag((await self._set_view(session, row)).etag, if_match)
            values: dict[str, Any] = {}
            if new_name is not None and new_name != row.name:
                if await q.find_named(session, ResourceSet, account.id, new_name) is not None:
                    raise AlreadyExistsError(f"resource set {new_name} already exists")
                values["name"] = new_name
            if description is not None:
                values["description"] = description
            if organization_id is not None:
                values["organization_id"] = (
                    await self._organization(session, account, organization_id, "organizationId")
                ).id
            await q.touch(session, row, **values)
            await self._changed(
                session,
                account,
                caller,
                "ram:UpdateResourceSet",
                f"resourceset/{name}",
                fields=sorted(values),
            )
            return await self._set_view(session, row)

    async def delete_resource_set(self, caller: Caller, name: str) -> None:
        async with self._write() as (session, account):
            row: ResourceSet = await self._get(session, ResourceSet, account, name, "resource set")
            await q.delete_where(
                session, ResourceSetGroup, ResourceSetGroup.resource_set_id == row.id
            )
            await q.clear_resource_set(session, row.id)
            await q.delete_row(session, row)
            await self._changed(
                session, account, caller, "ram:DeleteResourceSet", f"resourceset/{name}"
            )

    async def link_group(
        self, caller: Caller, name: str, group_name: str, *, link: bool
    ) -> ResourceSetView:
        if link:
            return await self._link(caller, _SET_GROUP, name, group_name, self._set_view)
        return await self._unlink(caller, _SET_GROUP, name, group_name, self._set_view)

    async def set_member(
        self,
        caller: Caller,
        name: str,
        instance_id: str,
        namespace: str,
        repository: str | None = None,
        *,
        add: bool,
    ) -> ResourceSetView:
        """Put a namespace (``repository`` None) or a repository into the set, or take it out.

        A namespace or repository belongs to at most one resource set.
        """
        async with self._write() as (session, account):
            row: ResourceSet = await self._get(session, ResourceSet, account, name, "resource set")
            target: Any
            if repository is None:
                what = f"namespace {namespace} of instance {instance_id}"
                target = await tq.find_namespace(session, instance_id, namespace)
            else:
                what = f"repository {namespace}/{repository} of instance {instance_id}"
                target = await tq.find_repository(session, instance_id, f"{namespace}/{repository}")
            if target is None:
                raise NotFoundError(f"{what} does not exist")
            if add:
                if target.resource_set_id not in (None, row.id):
                    other = await q.names_of(session, ResourceSet, [target.resource_set_id])
                    raise ConflictError(
                        f"{what} already belongs to resource set "
                        f"{other.get(target.resource_set_id, '?')}; remove it there first"
                    )
                changed = target.resource_set_id is None
                target.resource_set_id = row.id
            else:
                if target.resource_set_id != row.id:
                    raise NotFoundError(f"{what} is not in resource set {name}")
                changed = True
                target.resource_set_id = None
            if changed:
                await q.touch(session, row)
                await self._changed(
                    session,
                    account,
                    caller,
                    "ram:AddResourceToResourceSet" if add else "ram:RemoveResourceFromResourceSet",
                    f"resourceset/{name}",
                    instanceId=instance_id,
                    namespace=namespace,
                    repository=repository,
                )
            return await self._set_view(session, row)

    # ---- roles -----------------------------------------------------------------------------

    async def _role_views(self, session: AsyncSession, rows: Sequence[Role]) -> list[RoleView]:
        policies = await q.names_by(
            session, RolePolicy, "role_id", [r.id for r in rows], Policy, "policy_id"
        )
        return [
            RoleView(
                str(r.id),
                r.name,
                r.description,
                r.sharing_scope,
                r.builtin,
                str(r.organization_id) if r.organization_id else None,
                tuple(policies.get(r.id, ())),
                r.created_at,
                r.updated_at,
            )
            for r in rows
        ]

    async def _role_view(self, session: AsyncSession, row: Role) -> RoleView:
        return (await self._role_views(session, [row]))[0]

    async def create_role(
        self,
        caller: Caller,
        name: str,
        *,
        description: str = "",
        sharing_scope: str = "global",
        policies: Sequence[str] = (),
    ) -> RoleView:
        check_role_name(name)
        check_description(description)
        check_sharing_scope(sharing_scope)
        if len(set(policies)) > MAX_ROLE_POLICIES:
            raise LimitExceededError(f"a role carries at most {MAX_ROLE_POLICIES} policies")
        async with self._write() as (session, account):
            if await q.find_named(session, Role, account.id, name) is not None:
                raise AlreadyExistsError(f"role {name} already exists")
            count = await q.count_roles(session, account.id)
            if count >= MAX_ROLES:
                raise LimitExceededError(
                    f"at most {MAX_ROLES} roles exist in total, built-in and custom; "
                    f"there are {count} already"
                )
            usable = [n for n in policies if not _unusable(n)]
            found = await q.find_names(session, Policy, account.id, usable)
            missing = sorted(set(policies) - {p.name for p in found})
            if missing:
                raise NotFoundError(f"policies: policy {', '.join(missing)} does not exist")
            for policy in found:
                await self._check_attach(session, account, caller, policy)
            row = Role(
                account_id=account.id,
                name=name,
                description=description,
                sharing_scope="global" if caller.administrator else sharing_scope,
                organization_id=await self._caller_organization(session, caller),
                created_by=uuid.UUID(caller.user_id) if caller.user_id else None,
            )
            q.add(session, row)
            await q.flush(session)
            for policy in found:
                await q.add_link(session, RolePolicy(role_id=row.id, policy_id=policy.id))
            await self._changed(
                session,
                account,
                caller,
                "ram:CreateRole",
                f"role/{name}",
                sharingScope=row.sharing_scope,
                policies=sorted(p.name for p in found),
            )
            return await self._role_view(session, row)

    async def list_roles(self, page: PageRequest) -> Page[RoleView]:
        async with self._read() as (session, account):
            rows, total = await q.page_of(session, Role, account.id, page.offset, page.page_size)
            items = await self._role_views(session, rows)
        return Page(items, page.page, page.page_size, total)

    async def get_role(self, name: str) -> RoleView:
        async with self._read() as (session, account):
            row = await self._get(session, Role, account, name, "role")
            return await self._role_view(session, row)

    @staticmethod
    def _not_builtin(row: Role | Policy, verb: str) -> None:
        if row.builtin:
            kind = "role" if isinstance(row, Role) else "policy"
            raise ConflictError(f"built-in {kind} {row.name} cannot be {verb}")

    async def update_role(
        self,
        caller: Caller,
        name: str,
        *,
        description: str | None = None,
        sharing_scope: str | None = None,
        if_match: str | None = None,
    ) -> RoleView:
        check_description(description)
        if sharing_scope is not None:
            check_sharing_scope(sharing_scope)
        async with self._write() as (session, account):
            row: Role = await self._get(session, Role, account, name, "role")
            self._not_builtin(row, "modified")
            check_etag((await self._role_view(session, row)).etag, if_match)
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if sharing_scope is not None:
                values["sharing_scope"] = await self._scope_for(
                    session, account, row, sharing_scope
                )
            await q.touch(session, row, **values)
            await self._changed(
                session, account, caller, "ram:UpdateRole", f"role/{name}", fields=sorted(values)
            )
            return await self._role_view(session, row)

    async def delete_role(self, caller: Caller, name: str) -> None:
        async with self._write() as (session, account):
            row: Role = await self._get(session, Role, account, name, "role")
            self._not_builtin(row, "deleted")
            for model in (UserRole, GroupRole, RolePolicy):
                await q.delete_where(session, model, model.role_id == row.id)
            await q.delete_row(session, row)
            await self._changed(session, account, caller, "ram:DeleteRole", f"role/{name}")

    async def _room_for_policy(self, session: AsyncSession, row: Role, policy: Policy) -> bool:
        """Whether the role lacks the policy, refused when it carries the most already; the
        role's row lock makes the count and the insert one step."""
        await q.lock_role(session, row.id)
        current = await self._role_view(session, row)
        if policy.name in current.policies:
            return False
        if len(current.policies) >= MAX_ROLE_POLICIES:
            raise LimitExceededError(
                f"role {row.name} carries {len(current.policies)} policies already; "
                f"a role carries at most {MAX_ROLE_POLICIES}"
            )
        return True

    async def attach_policy(self, caller: Caller, name: str, policy_name: str) -> RoleView:
        return await self._link(
            caller, _ROLE_POLICY, name, policy_name, self._role_view, self._room_for_policy
        )

    async def detach_policy(self, caller: Caller, name: str, policy_name: str) -> RoleView:
        return await self._unlink(caller, _ROLE_POLICY, name, policy_name, self._role_view)

    # ---- policies --------------------------------------------------------------------------

    @staticmethod
    def _policy_view(row: Policy) -> PolicyView:
        return PolicyView(
            str(row.id),
            row.name,
            row.description,
            dict(row.document),
            row.sharing_scope,
            row.builtin,
            str(row.organization_id) if row.organization_id else None,
            row.created_at,
            row.updated_at,
        )

    async def create_policy(
        self,
        caller: Caller,
        name: str,
        document: Any,
        *,
        description: str = "",
        sharing_scope: str = "global",
    ) -> PolicyView:
        check_policy_name(name)
        check_description(description)
        check_sharing_scope(sharing_scope)
        parse_policy_document(name, document)
        async with self._write() as (session, account):
            if name in BUILTIN_POLICIES or (
                await q.find_named(session, Policy, account.id, name) is not None
            ):
                raise AlreadyExistsError(f"policy {name} already exists")
            row = Policy(
                account_id=account.id,
                name=name,
                description=description,
                document=document,
                sharing_scope="global" if caller.administrator else sharing_scope,
                organization_id=await self._caller_organization(session, caller),
                created_by=uuid.UUID(caller.user_id) if caller.user_id else None,
            )
            q.add(session, row)
            await q.flush(session)
            await self._changed(
                session,
                account,
                caller,
                "ram:CreatePolicy",
                f"policy/{name}",
                sharingScope=row.sharing_scope,
            )
            return self._policy_view(row)

    async def list_policies(self, page: PageRequest) -> Page[PolicyView]:
        async with self._read() as (session, account):
            rows, total = await q.page_of(session, Policy, account.id, page.offset, page.page_size)
            items = [self._policy_view(r) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def get_policy(self, name: str) -> PolicyView:
        async with self._read() as (session, account):
            return self._policy_view(await self._get(session, Policy, account, name, "policy"))

    async def update_policy(
        self,
        caller: Caller,
        name: str,
        *,
        document: Any = None,
        description: str | None = None,
        sharing_scope: str | None = None,
        if_match: str | None = None,
    ) -> PolicyView:
        check_description(description)
        if sharing_scope is not None:
            check_sharing_scope(sharing_scope)
        if document is not None:
            parse_policy_document(name, document)
        async with self._write() as (session, account):
            row: Policy = await self._get(session, Policy, account, name, "policy")
            self._not_builtin(row, "modified")
            check_etag(self._policy_view(row).etag, if_match)
            values: dict[str, Any] = {}
            if document is not None:
                values["document"] = document
            if description is not None:
                values["description"] = description
            if sharing_scope is not None:
                values["sharing_scope"] = await self._scope_for(
                    session, account, row, sharing_scope
                )
            await q.touch(session, row, **values)
            await self._changed(
                session,
                account,
                caller,
                "ram:UpdatePolicy",
                f"policy/{name}",
                fields=sorted(values),
            )
            return self._policy_view(row)

    async def delete_policy(self, caller: Caller, name: str) -> None:
        async with self._write() as (session, account):
            row: Policy = await self._get(session, Policy, account, name, "policy")
            self._not_builtin(row, "deleted")
            await q.delete_where(session, RolePolicy, RolePolicy.policy_id == row.id)
            await q.delete_row(session, row)
            await self._changed(session, account, caller, "ram:DeletePolicy", f"policy/{name}")

    # ---- logon policies ---------------------------------------------------------------------

    @staticmethod
    def _logon_view(row: LogonPolicy) -> LogonPolicyView:
        return LogonPolicyView(
            str(row.id),
            row.name,
            row.description,
            tuple(dict(w) for w in row.time_windows or ()),
            tuple(row.cidrs or ()),
            row.created_at,
            row.updated_at,
        )

    async def create_logon_policy(
        self,
        caller: Caller,
        name: str,
        *,
        description: str = "",
        time_windows: Any = (),
        cidrs: Any = (),
    ) -> LogonPolicyView:
        check_logon_name(name)
        check_description(description)
        windows, networks = validate_logon_policy(list(time_windows), list(cidrs))
        async with self._write() as (session, account):
            if await q.find_named(session, LogonPolicy, account.id, name) is not None:
                raise AlreadyExistsError(f"logon policy {name} already exists")
            row = LogonPolicy(
                account_id=account.id,
                name=name,
                description=description,
                time_windows=windows,
                cidrs=networks,
            )
            q.add(session, row)
            await q.flush(session)
            await self._changed(
                session, account, caller, "ram:CreateLogonPolicy", f"logonpolicy/{name}"
            )
            return self._logon_view(row)

    async def list_logon_policies(self, page: PageRequest) -> Page[LogonPolicyView]:
        async with self._read() as (session, account):
            rows, total = await q.page_of(
                session, LogonPolicy, account.id, page.offset, page.page_size
            )
            items = [self._logon_view(r) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def get_logon_policy(self, name: str) -> LogonPolicyView:
        async with self._read() as (session, account):
            return self._logon_view(
                await self._get(session, LogonPolicy, account, name, "logon policy")
            )

    async def update_logon_policy(
        self,
        caller: Caller,
        name: str,
        *,
        description: str | None = None,
        time_windows: Any = None,
        cidrs: Any = None,
        if_match: str | None = None,
    ) -> LogonPolicyView:
        check_description(description)
        async with self._write() as (session, account):
            row: LogonPolicy = await self._get(session, LogonPolicy, account, name, "logon policy")
            check_etag(self._logon_view(row).etag, if_match)
            windows, networks = validate_logon_policy(
                list(row.time_windows if time_windows is None else time_windows),
                list(row.cidrs if cidrs is None else cidrs),
            )
            values: dict[str, Any] = {"time_windows": windows, "cidrs": networks}
            if description is not None:
                values["description"] = description
            await q.touch(session, row, **values)
            await self._changed(
                session, account, caller, "ram:UpdateLogonPolicy", f"logonpolicy/{name}"
            )
            return self._logon_view(row)

    async def delete_logon_policy(self, caller: Caller, name: str) -> None:
        """Its users fall back to the default policy (any time, any address)."""
        async with self._write() as (session, account):
            row: LogonPolicy = await self._get(session, LogonPolicy, account, name, "logon policy")
            await q.clear_logon_policy(session, row.id)
            await q.delete_row(session, row)
            await self._changed(
                session, account, caller, "ram:DeleteLogonPolicy", f"logonpolicy/{name}"
            )

    # ---- the "why" ---------------------------------------------------------------------------

    async def simulate(self, username: str, action: str, resource: str) -> Simulation:
        """What ``authorize`` decides for the user, and which policy statement decided."""
        if not action or len(action) > 128:
            raise InvalidInputError("action must be 1-128 characters, e.g. cr:PullRepository")
        if not resource or len(resource) > 1024:
            raise InvalidInputError("resource must be 1-1024 characters: an ARN or '*'")
        async with self._read() as (session, account):
            user = await self._get(session, User, account, username, "user")
            principal = await load_principal(session, user, account.arn_id)
        return Simulation.of(authorize(principal, action, Resource(resource)))
