"""What every identity service shares: the account-locked unit of work, named lookups,
audit rows, sharing scopes, the last-administrator rule, the link rows between
aggregates, and the get/list/update/delete shapes. One :class:`IdentityStore` serves all
the services (one account-ARN cache); each change runs in a :class:`Unit`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import AlreadyExistsError, ConflictError, DeniedError, NotFoundError
from dockyard.metadata.models import (
    Account,
    LogonPolicy,
    Organization,
    Policy,
    ResourceSet,
    Role,
    User,
    UserGroup,
)
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.identity.peers import (
    AccountLookup,
    AuditLog,
    Page,
    PageRequest,
    check_etag,
    load_principal,
    ram_arn,
)
from dockyard.services.identity.rules import (
    ADMINISTRATOR_ROLE,
    is_administrator,
    parse_organization_id,
    unusable,
)
from dockyard.services.identity.views import (
    Caller,
    GroupView,
    LogonPolicyView,
    OrganizationView,
    PolicyView,
    ResourceSetView,
    RoleView,
    UserView,
    Views,
    group_views,
    logon_policy_views,
    organization_views,
    policy_views,
    resource_set_views,
    role_views,
    user_views,
    view_of,
)
from dockyard.services.paging import Tagged

_Row = TypeVar("_Row")
#: Every view has an entity tag.
_View = TypeVar("_View", bound=Tagged)


@dataclass(frozen=True, slots=True)
class Aggregate(Generic[_Row, _View]):
    """A named kind of identity row: its model, how errors name it, its RAM kind (the audit
    row's path, or its detail key), its column in link rows, and its views."""

    model: type[_Row]
    what: str
    kind: str
    key: str
    views: Views[_Row, _View]
    #: Built-in rows exist, and they are neither modified nor deleted.
    builtin: bool = False


ORGANIZATION: Aggregate[Organization, OrganizationView] = Aggregate(
    Organization,
    "organization",
    "organization",
    "organization_id",
    organization_views,
)
USER: Aggregate[User, UserView] = Aggregate(User, "user", "user", "user_id", user_views)
GROUP: Aggregate[UserGroup, GroupView] = Aggregate(
    UserGroup, "group", "group", "group_id", group_views
)
ROLE: Aggregate[Role, RoleView] = Aggregate(
    Role, "role", "role", "role_id", role_views, builtin=True
)
POLICY: Aggregate[Policy, PolicyView] = Aggregate(
    Policy, "policy", "policy", "policy_id", policy_views, builtin=True
)
RESOURCE_SET: Aggregate[ResourceSet, ResourceSetView] = Aggregate(
    ResourceSet, "resource set", "resourceset", "resource_set_id", resource_set_views
)
LOGON_POLICY: Aggregate[LogonPolicy, LogonPolicyView] = Aggregate(
    LogonPolicy, "logon policy", "logonpolicy", "logon_policy_id", logon_policy_views
)


@dataclass(frozen=True, slots=True)
class Link(Generic[_Row, _View]):
    """One kind of link: attaching ``other`` to ``owner``, which is touched, audited and
    returned. ``missing`` (with ``{owner}`` and ``{other}``) is the detach's not-found error."""

    model: type[Any]
    owner: Aggregate[_Row, _View]
    other: Aggregate[Any, Any]
    attach: str
    detach: str
    missing: str
    #: Attaching checks the other end's sharing scope.
    scoped: bool = False
    #: Detaching may take the built-in Administrator role from its last enabled user.
    keeps_administrator: bool = False


#: Runs just before a link is inserted: False when it is there already; raises when the
#: owner has no room for another.
Room = Callable[[AsyncSession, Any, Any], Awaitable[bool]]


async def find(
    session: AsyncSession, account: Account, aggregate: Aggregate[_Row, Any], name: str
) -> _Row:
    """The row of this name: NotFoundError when there is none."""
    model: Any = aggregate.model
    row = None if unusable(name) else await q.find_named(session, model, account.id, name)
    if row is None:
        raise NotFoundError(f"{aggregate.what} {name!r} does not exist")
    found: _Row = row
    return found


async def find_organization(
    session: AsyncSession, account: Account, organization_id: str, field: str
) -> Organization:
    """The organization of this id (``field`` names it in errors)."""
    row = await q.find_by_id(
        session, Organization, account.id, parse_organization_id(organization_id, field)
    )
    if row is None:
        raise NotFoundError(f"{field}: organization {organization_id} does not exist")
    return row


def not_builtin(aggregate: Aggregate[Any, Any], row: Any, verb: str) -> None:
    if aggregate.builtin and row.builtin:
        raise ConflictError(f"built-in {aggregate.what} {row.name} cannot be {verb}")


@dataclass(slots=True)
class IdentityStore:
    """The database and audit log of the identity services, and the account's RAM id."""

    db: Database
    audit: AuditLog
    accounts: AccountLookup

    @asynccontextmanager
    async def write(self, caller: Caller) -> AsyncIterator[Unit]:
        """A change by ``caller``, holding the account lock (identity changes take turns)."""
        async with self.db.write() as session:
            account = await q.lock_account(session)
            if account is None:
                raise RuntimeError("no account: the first-start setup has not run")
            try:
                yield Unit(self, session, account, caller)
                await session.flush()
            except IntegrityError as exc:
                raise ConflictError(
                    "the change conflicts with existing rows (a name already taken, or a "
                    "reference still in use)"
                ) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[tuple[AsyncSession, Account]]:
        async with self.db.read() as session:
            account = await tq.find_account(session)
            if account is None:
                raise RuntimeError("no account: the first-start setup has not run")
            yield session, account

    async def ram_arn(self, path: str) -> str:
        """``acs:ram::$account:$path`` (``*`` stays ``*``)."""
        return await self.accounts.ram_arn(path)

    # -- the shapes every aggregate shares ----------------------------------------------------

    async def view(self, aggregate: Aggregate[Any, _View], name: str) -> _View:
        """The view of one named row."""
        async with self.read() as (session, account):
            row = await find(session, account, aggregate, name)
            return await view_of(aggregate.views, session, row)

    async def page(
        self, page: PageRequest, aggregate: Aggregate[Any, _View], **within: uuid.UUID | None
    ) -> Page[_View]:
        """One page of an aggregate's rows, by name; ``within`` keeps the rows whose columns
        hold these values (``None``: any)."""
        model = aggregate.model
        where = [getattr(model, column) == value for column, value in within.items() if value]
        async with self.read() as (session, account):
            rows, total = await q.page_of(
                session, model, account.id, page.offset, page.page_size, *where
            )
            items = await aggregate.views(session, rows)
        return Page(items, page.page, page.page_size, total)

    @asynccontextmanager
    async def edit(
        self, caller: Caller, aggregate: Aggregate[_Row, _View], name: str, if_match: str | None
    ) -> AsyncIterator[Edit[_Row, _View]]:
        """A change of one named row, refused when it is built-in or its entity tag moved on."""
        async with self.write(caller) as unit:
            row = await unit.get(aggregate, name)
            not_builtin(aggregate, row, "modified")
            check_etag((await unit.view(aggregate, row)).etag, if_match)
            yield Edit(self, unit.session, unit.account, caller, aggregate, row, name)

    async def update(
        self,
        caller: Caller,
        aggregate: Aggregate[Any, _View],
        name: str,
        action: str,
        if_match: str | None,
        **changes: Any,
    ) -> _View:
        """Change one named row (see :meth:`Edit.changes`), audited with the fields changed."""
        async with self.edit(caller, aggregate, name, if_match) as edit:
            return await edit.save(action, await edit.changes(**changes))

    async def delete(
        self,
        caller: Caller,
        aggregate: Aggregate[Any, Any],
        name: str,
        action: str,
        links: Sequence[type[Any]] = (),
        *,
        clear: Callable[[AsyncSession, uuid.UUID], Awaitable[None]] | None = None,
        keeps_administrator: bool = False,
    ) -> None:
        """Delete a named row with its link rows; ``clear`` lets go of rows pointing at it."""
        async with self.write(caller) as unit:
            row = await unit.get(aggregate, name)
            not_builtin(aggregate, row, "deleted")
            for model in links:
                await q.delete_where(unit.session, model, getattr(model, aggregate.key) == row.id)
            if clear is not None:
                await clear(unit.session, row.id)
            await q.delete_row(unit.session, row)
            if keeps_administrator:
                await unit.keep_an_administrator()
            await unit.changed(action, f"{aggregate.kind}/{name}")

    # -- link rows -----------------------------------------------------------------------

    async def link(
        self,
        caller: Caller,
        link: Link[Any, _View],
        owner: str,
        other: str,
        room: Room | None = None,
    ) -> _View:
        """Attach ``other`` to ``owner``; a link already there is no change (no audit row)."""
        async with self.write(caller) as unit:
            owner_row, other_row, key = await unit.ends(link, owner, other)
            if link.scoped:
                await unit.check_attach(other_row)
            if (room is None or await room(unit.session, owner_row, other_row)) and (
                await q.add_link(unit.session, link.model(**key))
            ):
                await q.touch(unit.session, owner_row)
                await unit.linked(link, link.attach, owner, other)
            return await unit.view(link.owner, owner_row)

    async def unlink(self, caller: Caller, link: Link[Any, _View], owner: str, other: str) -> _View:
        """Detach ``other`` from ``owner``: NotFoundError when they are not linked."""
        async with self.write(caller) as unit:
            owner_row, _other_row, key = await unit.ends(link, owner, other)
            if not await q.remove_link(unit.session, link.model, **key):
                raise NotFoundError(link.missing.format(owner=owner, other=other))
            await q.touch(unit.session, owner_row)
            if link.keeps_administrator:
                await unit.keep_an_administrator()
            await unit.linked(link, link.detach, owner, other)
            return await unit.view(link.owner, owner_row)


@dataclass(frozen=True, slots=True)
class Unit:
    """One identity change: its transaction, the account (locked), and who makes it."""

    store: IdentityStore
    session: AsyncSession
    account: Account
    caller: Caller

    async def get(self, aggregate: Aggregate[_Row, Any], name: str) -> _Row:
        return await find(self.session, self.account, aggregate, name)

    async def organization(self, organization_id: str, field: str) -> Organization:
        return await find_organization(self.session, self.account, organization_id, field)

    async def named(
        self, aggregate: Aggregate[_Row, Any], names: Sequence[str], field: str
    ) -> list[_Row]:
        """The rows of these names, by name; NotFoundError names the missing ones."""
        usable = [n for n in names if not unusable(n)]
        found: list[Any] = await q.find_names(
            self.session, aggregate.model, self.account.id, usable
        )
        missing = sorted(set(names) - {r.name for r in found})
        if missing:
            raise NotFoundError(f"{field}: {aggregate.what} {', '.join(missing)} does not exist")
        return sorted(found, key=lambda r: str(r.name))

    async def free(self, aggregate: Aggregate[Any, Any], name: str) -> None:
        """Refuse a name another row of the aggregate has."""
        if await q.find_named(self.session, aggregate.model, self.account.id, name) is not None:
            raise AlreadyExistsError(f"{aggregate.what} {name} already exists")

    async def rename(
        self, aggregate: Aggregate[Any, Any], row: Any, new_name: str | None, values: dict[str, Any]
    ) -> None:
        """Add a new name to ``values`` when it differs and no other row has it."""
        if new_name is not None and new_name != row.name:
            await self.free(aggregate, new_name)
            values["name"] = new_name

    async def view(self, aggregate: Aggregate[_Row, _View], row: _Row) -> _View:
        return await view_of(aggregate.views, self.session, row)

    async def changed(self, action: str, path: str, **detail: Any) -> None:
        """The audit row of this change, in its transaction."""
        arn = ram_arn(self.account.arn_id, path)
        await self.store.audit.change(self.session, self.caller.actor, action, arn, detail or None)

    async def created(
        self,
        aggregate: Aggregate[_Row, _View],
        row: _Row,
        action: str,
        key: str | None = None,
        links: Callable[[Any], Sequence[Any]] | None = None,
        **detail: Any,
    ) -> _View:
        """File a new row under the account, insert it and the ``links`` made from it (they
        need its id), audit it as ``$kind/$key`` (``key`` None: its id), and view it."""
        new: Any = row
        new.account_id = self.account.id
        q.add(self.session, new)
        await q.flush(self.session)
        for link in links(row) if links else ():
            await q.add_link(self.session, link)
        await self.changed(action, f"{aggregate.kind}/{new.id if key is None else key}", **detail)
        return await self.view(aggregate, row)

    async def keep_an_administrator(self) -> None:
        """Refuse the change when no enabled user would hold the built-in Administrator."""
        session = self.session
        role = await q.find_named(session, Role, self.account.id, ADMINISTRATOR_ROLE)
        if role is None or not role.builtin:
            return
        await session.flush()
        if await q.count_administrators(session, role.id) == 0:
            raise ConflictError(
                f"refused: this would leave no enabled user holding the built-in "
                f"{ADMINISTRATOR_ROLE} role (the last administrator cannot lose it)"
            )

    # -- sharing scope -------------------------------------------------------------------

    async def caller_organization(self) -> uuid.UUID | None:
        if self.caller.user_id is None:
            return None
        me = await self.session.get(User, uuid.UUID(self.caller.user_id))
        return me.organization_id if me is not None else None

    async def owned_by(self, sharing_scope: str) -> dict[str, Any]:
        """The ownership columns of a new role or policy: administrators share globally."""
        caller = self.caller
        return {
            "sharing_scope": "global" if caller.administrator else sharing_scope,
            "organization_id": await self.caller_organization(),
            "created_by": uuid.UUID(caller.user_id) if caller.user_id else None,
        }

    async def check_attach(self, row: Role | Policy) -> None:
        """Whether the caller may attach the role or policy, by its sharing scope."""
        kind = "role" if isinstance(row, Role) else "policy"
        scope, caller = row.sharing_scope, self.caller
        if scope == "global" or caller.administrator or row.organization_id is None:
            return
        tree = await q.organization_tree(self.session, self.account.id)
        mine = await self.caller_organization()
        names = await q.names_of(self.session, Organization, [row.organization_id])
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

    async def scope_for(self, row: Role | Policy, wanted: str) -> str:
        """The sharing scope a role or policy may have: always global when an administrator
        made it (or the system did), else what is asked."""
        if row.created_by is None:
            return "global"
        creator = await self.session.get(User, row.created_by)
        if creator is None:
            return wanted
        principal = await load_principal(self.session, creator, self.account.arn_id)
        return "global" if is_administrator(principal) else wanted

    # -- link rows -----------------------------------------------------------------------

    async def ends(
        self, link: Link[_Row, Any], owner: str, other: str
    ) -> tuple[_Row, Any, dict[str, uuid.UUID]]:
        """Both rows of a link, the owner's errors first, and the link row's key."""
        owner_row: Any = await self.get(link.owner, owner)
        not_builtin(link.owner, owner_row, "modified")
        other_row = await self.get(link.other, other)
        return owner_row, other_row, {link.owner.key: owner_row.id, link.other.key: other_row.id}

    async def linked(self, link: Link[Any, Any], action: str, owner: str, other: str) -> None:
        """The audit row of a link change, on the owner."""
        await self.changed(action, f"{link.owner.kind}/{owner}", **{link.other.kind: other})


@dataclass(frozen=True, slots=True)
class Edit(Unit, Generic[_Row, _View]):
    """A change of one named row (found, not built-in, its entity tag matched)."""

    aggregate: Aggregate[_Row, _View]
    row: _Row
    name: str

    async def changes(
        self,
        *,
        new_name: str | None = None,
        description: str | None = None,
        organization_id: str | None = None,
        sharing_scope: str | None = None,
        **columns: Any,
    ) -> dict[str, Any]:
        """The column values of the changes aggregates take (``None``: unchanged): a name no
        other row has, a description, an existing organization, a sharing scope, and
        ``columns`` as they are."""
        values = {column: value for column, value in columns.items() if value is not None}
        row: Any = self.row
        await self.rename(self.aggregate, row, new_name, values)
        if description is not None:
            values["description"] = description
        if organization_id is not None:
            values["organization_id"] = (
                await self.organization(organization_id, "organizationId")
            ).id
        if sharing_scope is not None:
            values["sharing_scope"] = await self.scope_for(row, sharing_scope)
        return values

    async def save(
        self, action: str, values: dict[str, Any], *, audit_fields: bool = True
    ) -> _View:
        """Apply ``values``, audit the change (with the fields it names), and view the row."""
        await q.touch(self.session, self.row, **values)
        detail = {"fields": sorted(values)} if audit_fields else {}
        await self.changed(action, f"{self.aggregate.kind}/{self.name}", **detail)
        return await self.view(self.aggregate, self.row)


class AggregateService:
    """The base of the per-aggregate services: one shared store, and RAM names for the
    routes that authorize on them."""

    def __init__(self, store: IdentityStore) -> None:
        self._store = store

    async def ram_arn(self, path: str) -> str:
        """``acs:ram::$account:$path`` (``*`` stays ``*``)."""
        return await self._store.ram_arn(path)
