"""Identity management (PRODUCT.md §3): organizations, users, user groups, resource sets,
roles, policies and logon policies, and the "why" of an authorization decision, one
service per aggregate over one shared :class:`IdentityStore`.

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

from dataclasses import dataclass

from dockyard.metadata.session import Database
from dockyard.services.identity.groups import GroupService
from dockyard.services.identity.logon_policies import LogonPolicyService
from dockyard.services.identity.organizations import OrganizationService
from dockyard.services.identity.peers import AccountLookup, AuditLog, MasterKey
from dockyard.services.identity.policies import PolicyService
from dockyard.services.identity.resource_sets import ResourceSetService
from dockyard.services.identity.roles import RoleService
from dockyard.services.identity.rules import (
    ADMINISTRATOR_POLICY,
    ADMINISTRATOR_ROLE,
    MAX_ROLE_POLICIES,
    MAX_ROLES,
    is_administrator,
)
from dockyard.services.identity.store import AggregateService, IdentityStore
from dockyard.services.identity.users import UserChanges, UserCreate, UserService
from dockyard.services.identity.views import (
    SYSTEM,
    Caller,
    GroupView,
    LogonPolicyView,
    NamespaceMember,
    OrganizationView,
    PolicyView,
    RepositoryMember,
    ResourceSetView,
    RoleView,
    Simulation,
    UserView,
)

__all__ = [
    "ADMINISTRATOR_POLICY",
    "ADMINISTRATOR_ROLE",
    "MAX_ROLES",
    "MAX_ROLE_POLICIES",
    "SYSTEM",
    "AggregateService",
    "Caller",
    "GroupService",
    "GroupView",
    "IdentityServices",
    "IdentityStore",
    "LogonPolicyService",
    "LogonPolicyView",
    "NamespaceMember",
    "OrganizationService",
    "OrganizationView",
    "PolicyService",
    "PolicyView",
    "RepositoryMember",
    "ResourceSetService",
    "ResourceSetView",
    "RoleService",
    "RoleView",
    "Simulation",
    "UserChanges",
    "UserCreate",
    "UserService",
    "UserView",
    "is_administrator",
]


@dataclass(frozen=True, slots=True)
class IdentityServices:
    """The identity services of one process, over one store."""

    organizations: OrganizationService
    users: UserService
    groups: GroupService
    resource_sets: ResourceSetService
    roles: RoleService
    policies: PolicyService
    logon_policies: LogonPolicyService

    @classmethod
    def build(
        cls, db: Database, audit: AuditLog, accounts: AccountLookup, master: MasterKey | None = None
    ) -> IdentityServices:
        store = IdentityStore(db, audit, accounts)
        return cls(
            OrganizationService(store),
            UserService(store, master),
            GroupService(store),
            ResourceSetService(store),
            RoleService(store),
            PolicyService(store),
            LogonPolicyService(store),
        )
