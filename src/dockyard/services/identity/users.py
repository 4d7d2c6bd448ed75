"""Users: created inside an existing organization, with a console password that must be
changed at first sign-in; the built-in Administrator role always keeps an enabled user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from dockyard.errors import InvalidInputError, NotFoundError
from dockyard.metadata.models import GroupMember, LogonPolicy, User, UserRole
from dockyard.metadata.queries import identity as q
from dockyard.services.identity.peers import (
    MasterKey,
    Page,
    PageRequest,
    check_password_complexity,
    hash_password,
)
from dockyard.services.identity.rules import (
    check_display_name,
    check_email,
    check_landline,
    check_no_control,
    check_phone,
    check_username,
    parse_organization_id,
    unusable,
)
from dockyard.services.identity.store import ROLE, USER, AggregateService, IdentityStore, Link, Unit
from dockyard.services.identity.views import Caller, UserView

CHAT_WEBHOOK_PURPOSE = "chat-webhook-key"

USER_ROLE: Link[User, UserView] = Link(
    UserRole,
    USER,
    ROLE,
    "ram:AttachRoleToUser",
    "ram:DetachRoleFromUser",
    "user {owner} does not hold role {other} directly",
    scoped=True,
    keeps_administrator=True,
)


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


class UserService(AggregateService):
    def __init__(self, store: IdentityStore, master: MasterKey | None = None) -> None:
        super().__init__(store)
        self._master = master

    def _encrypt_webhook(self, key: str) -> bytes | None:
        if key == "":
            return None
        if len(key) > 512:
            raise InvalidInputError("chatWebhookKey is at most 512 characters")
        check_no_control(key, "chatWebhookKey")
        if self._master is None:
            raise RuntimeError("no master key: chat webhook keys cannot be stored")
        return self._master.encrypt(key.encode(), CHAT_WEBHOOK_PURPOSE)

    @staticmethod
    async def _logon_policy_id(unit: Unit, name: str | None) -> uuid.UUID | None:
        if not name:
            return None
        row = (
            None
            if unusable(name)
            else await q.find_named(unit.session, LogonPolicy, unit.account.id, name)
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
        async with self._store.write(caller) as unit:
            org = await unit.organization(spec.organization_id, "organizationId")
            await unit.free(USER, spec.username)
            logon_id = await self._logon_policy_id(unit, spec.logon_policy)
            roles = await unit.named(ROLE, spec.roles, "roles")
            for role in roles:
                await unit.check_attach(role)
            row = User(
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
            return await unit.created(
                USER,
                row,
                "ram:CreateUser",
                spec.username,
                lambda user: [UserRole(user_id=user.id, role_id=r.id) for r in roles],
                organizationId=str(org.id),
                roles=[r.name for r in roles],
            )

    async def list_users(
        self, page: PageRequest, organization_id: str | None = None
    ) -> Page[UserView]:
        org = parse_organization_id(organization_id, "organizationId") if organization_id else None
        return await self._store.page(page, USER, organization_id=org)

    async def get_user(self, username: str) -> UserView:
        return await self._store.view(USER, username)

    async def update_user(
        self, caller: Caller, username: str, changes: UserChanges, if_match: str | None = None
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
        async with self._store.edit(caller, USER, username, if_match) as edit:
            row = edit.row
            values = await edit.changes(
                organization_id=c.organization_id,
                display_name=c.display_name,
                email=c.email,
                phone=c.phone,
                landline=c.landline,
                notify_email=c.notify_email,
            )
            if c.chat_webhook_key is not None:
                values["chat_webhook_key_encrypted"] = webhook
            if c.logon_policy is not None:
                values["logon_policy_id"] = await self._logon_policy_id(edit, c.logon_policy)
            if c.disabled is not None and c.disabled != row.disabled:
                values["disabled"] = c.disabled
                if c.disabled:
                    values["session_epoch"] = row.session_epoch + 1
            await q.touch(edit.session, row, **values)
            if c.disabled:
                await edit.keep_an_administrator()
            await edit.changed(
                "ram:UpdateUser",
                f"user/{username}",
                fields=sorted(k for k in values if k != "session_epoch"),
            )
            return await edit.view(USER, row)

    async def delete_user(self, caller: Caller, username: str) -> None:
        await self._store.delete(
            caller,
            USER,
            username,
            "ram:DeleteUser",
            (UserRole, GroupMember),
            keeps_administrator=True,
        )

    async def attach_role_to_user(self, caller: Caller, username: str, role_name: str) -> UserView:
        return await self._store.link(caller, USER_ROLE, username, role_name)

    async def detach_role_from_user(
        self, caller: Caller, username: str, role_name: str
    ) -> UserView:
        return await self._store.unlink(caller, USER_ROLE, username, role_name)

    async def set_user_mfa(self, caller: Caller, username: str, required: bool) -> UserView:
        """Enable or disable MFA; disabling also clears the bound device."""
        values: dict[str, Any] = {"mfa_required": required}
        if not required:
            values.update(_NO_DEVICE)
        return await self._change_mfa(caller, username, values, required=required)

    async def clear_user_mfa_device(self, caller: Caller, username: str) -> UserView:
        """Forget the bound device: a user with MFA required binds a new one at sign-in."""
        return await self._change_mfa(caller, username, _NO_DEVICE, device="cleared")

    async def _change_mfa(
        self, caller: Caller, username: str, values: dict[str, Any], **detail: Any
    ) -> UserView:
        async with self._store.write(caller) as unit:
            user = await unit.get(USER, username)
            await q.touch(unit.session, user, **values)
            await unit.changed("ram:SetUserMFA", f"user/{username}", **detail)
            return await unit.view(USER, user)


#: The columns of a user's MFA device, cleared.
_NO_DEVICE: dict[str, Any] = {
    "mfa_secret_encrypted": None,
    "mfa_bound_at": None,
    "mfa_last_step": 0,
}
