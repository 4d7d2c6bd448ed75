"""First start: the account, the root organization, the default instance, the built-in
policies, the administrator and the token signing key. Idempotent; run by the parent
process before workers start.

Several nodes may start at once on one empty PostgreSQL database: the setup transaction
holds a cluster-wide advisory lock, so exactly one of them creates everything and the
others find it (and the same signing key) when their turn comes."""

from __future__ import annotations

import secrets

from dockyard.metadata.models import (
    Account,
    Instance,
    Policy,
    Role,
    RolePolicy,
    User,
    UserRole,
)
from dockyard.metadata.queries import identity as iq
from dockyard.metadata.queries import locks
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.policy.engine import BUILTIN_POLICIES
from dockyard.services.credentials import new_signing_key
from dockyard.services.passwords import hash_password
from dockyard.services.secrets import MasterKey

DEFAULT_INSTANCE_ID = "default"
ADMIN_USERNAME = "admin"
ADMIN_ROLE = "Administrator"
ROOT_ORGANIZATION = "root"


async def first_start(db: Database, master: MasterKey, admin_password: str | None) -> str | None:
    """Create what a fresh registry needs; returns the admin password when it was generated."""
    generated: str | None = None
    async with db.write() as session:
        await locks.transaction_lock(session, locks.SETUP_LOCK_KEY)
        if await tq.find_account(session) is None:
            account = Account(arn_id=str(secrets.randbelow(10**15) + 10**15), name="default")
            session.add(account)
            await session.flush()
            session.add(
                Instance(
                    id=DEFAULT_INSTANCE_ID,
                    account_id=account.id,
                    name="default",
                    region="local",
                    edition="Advanced",
                )
            )
            policies = {
                name: Policy(account_id=account.id, name=name, document=doc, builtin=True)
                for name, doc in BUILTIN_POLICIES.items()
            }
            session.add_all(policies.values())
            role = Role(
                account_id=account.id,
                name=ADMIN_ROLE,
                builtin=True,
                description="Everything, on everything",
            )
            session.add(role)
            if admin_password is None:
                generated = admin_password = secrets.token_urlsafe(18)
            hashed = hash_password(admin_password)
            admin = User(
                account_id=account.id,
                username=ADMIN_USERNAME,
                display_name="Administrator",
                password_hash=hashed,
                registry_password_hash=hashed,
            )
            session.add(admin)
            await session.flush()
            session.add(RolePolicy(role_id=role.id, policy_id=policies["AdministratorAccess"].id))
            session.add(UserRole(user_id=admin.id, role_id=role.id))
        account_row = await tq.find_account(session)
        assert account_row is not None
        await iq.ensure_root_organization(session, account_row.id, ROOT_ORGANIZATION)
        if not await iq.active_signing_keys(session):
            session.add(new_signing_key(master))
    return generated
