"""services.access principals (and services.identity) in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    LimitExceededError,
)
from dockyard.metadata import migrate
from dockyard.metadata.models import (
    Account,
    AuditEvent,
    GroupMember,
    GroupRole,
    Instance,
    Namespace,
    Organization,
    Policy,
    Repository,
    ResourceSet,
    ResourceSetGroup,
    Role,
    RolePolicy,
    User,
    UserGroup,
    UserRole,
)
from dockyard.metadata.session import Database
from dockyard.services.access import (
    SELF_SERVICE,
    AccountLookup,
    InstanceRef,
    Resource,
    ScopedPolicies,
    authorize,
    load_principal,
    ram_arn,
)
from dockyard.services.audit import AuditLog
from dockyard.services.identity import (
    MAX_ROLES,
    Caller,
    IdentityServices,
    UserChanges,
    UserCreate,
)
from dockyard.services.paging import PageRequest
from dockyard.services.secrets import MasterKey
from dockyard.services.setup import first_start

pytestmark = pytest.mark.integration

ACCOUNT = "1234567890123456"


def doc(action: str | list[str], resource: str | list[str], effect: str = "Allow") -> Any:
    return {
        "Version": "1",
        "Statement": [{"Effect": effect, "Action": action, "Resource": resource}],
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dockyard.db'}"
        migrate.upgrade(url)
        return url
    return str(request.getfixturevalue("pg_migrated_url"))


class World:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def setup(self) -> None:
        async with self.db.write() as s:
            self.account = Account(arn_id=ACCOUNT, name="test")
            s.add(self.account)
            await s.flush()
            self.org = Organization(account_id=self.account.id, name="root")
            s.add_all(
                [
                    self.org,
                    Instance(
                        id="std",
                        account_id=self.account.id,
                        name="s",
                        region="r1",
                        edition="Standard",
                    ),
                    Instance(
                        id="cri-adv",
                        account_id=self.account.id,
                        name="a",
                        region="r1",
                        edition="Advanced",
                    ),
                ]
            )
            await s.flush()
            self.user = User(
                account_id=self.account.id,
                organization_id=self.org.id,
                username="alice",
                display_name="Alice",
                password_hash="x",
            )
            s.add(self.user)
            await s.flush()

    async def policy_role(self, name: str, document: Any) -> Role:
        async with self.db.write() as s:
            policy = Policy(account_id=self.account.id, name=name, document=document)
            role = Role(account_id=self.account.id, name=f"role-{name}")
            s.add_all([policy, role])
            await s.flush()
            s.add(RolePolicy(role_id=role.id, policy_id=policy.id))
            return role

    async def group(self, name: str, role: Role, *, member: bool = True) -> UserGroup:
        async with self.db.write() as s:
            group = UserGroup(account_id=self.account.id, organization_id=self.org.id, name=name)
            s.add(group)
            await s.flush()
            s.add(GroupRole(group_id=group.id, role_id=role.id))
            if member:
                s.add(GroupMember(group_id=group.id, user_id=self.user.id))
            return group

    async def resource_set(
        self, name: str, group: UserGroup, namespaces: list[tuple[str, str]], repos: list[str]
    ) -> None:
        async with self.db.write() as s:
            rs = ResourceSet(account_id=self.account.id, name=name)
            s.add(rs)
            await s.flush()
            s.add(ResourceSetGroup(resource_set_id=rs.id, group_id=group.id))
            for instance_id, ns in namespaces:
                s.add(Namespace(instance_id=instance_id, name=ns, resource_set_id=rs.id))
            await s.flush()
            for full in repos:
                instance_id, full_name = full.split(":")
                ns_name, repo = full_name.split("/")
                ns = Namespace(instance_id=instance_id, name=ns_name)
                s.add(ns)
                await s.flush()
                s.add(
                    Repository(
                        public_id=f"crr-{ns_name}{repo}",
                        instance_id=instance_id,
                        namespace_id=ns.id,
                        name=repo,
                        full_name=full_name,
                        resource_set_id=rs.id,
                    )
                )

    async def principal(self, count: list[int] | None = None):  # type: ignore[no-untyped-def]
        async with self.db.read() as s:
            if count is not None:
                engine = s.get_bind()

                def on_exec(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                    if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                        count[0] += 1

                event.listen(engine, "before_cursor_execute", on_exec)
                try:
                    return await load_principal(s, self.user, ACCOUNT)
                finally:
                    event.remove(engine, "before_cursor_execute", on_exec)
            return await load_principal(s, self.user, ACCOUNT)


def run(url: str, scenario: Any) -> None:
    async def main() -> None:
        db = Database(url)
        try:
            world = World(db)
            await world.setup()
            await scenario(world)
        finally:
            await db.dispose()

    asyncio.run(main())


def test_ram_arn() -> None:
    assert ram_arn(ACCOUNT, "user/alice") == f"acs:ram::{ACCOUNT}:user/alice"
    assert ram_arn(ACCOUNT, "*") == "*"


def test_self_service_only(db_url: str) -> None:
    async def scenario(w: World) -> None:
        p = await w.principal()
        assert p.name == "alice" and p.user_id == str(w.user.id)
        assert [d.name for d in p.policies] == [SELF_SERVICE]
        assert p.scoped == ()
        me = Resource(ram_arn(ACCOUNT, "user/alice"))
        other = Resource(ram_arn(ACCOUNT, "user/bob"))
        for action in ("ram:GetUser", "ram:ChangePassword", "ram:CreateAccessKey"):
            assert authorize(p, action, me).allowed
            assert not authorize(p, action, other).allowed
        assert not authorize(p, "ram:DeleteUser", me).allowed
        assert authorize(p, "sts:GetSessionToken", Resource("*")).allowed
        assert not authorize(p, "cr:ListNamespace", Resource("*")).allowed

    run(db_url, scenario)


def test_direct_and_group_roles_union(db_url: str) -> None:
    async def scenario(w: World) -> None:
        direct = await w.policy_role("Direct", doc("cr:ListNamespace", "*"))
        async with w.db.write() as s:
            s.add(UserRole(user_id=w.user.id, role_id=direct.id))
        via = await w.policy_role("ViaGroup", doc("cr:GetNamespace", "*"))
        await w.group("devs", via)
        unrelated = await w.policy_role("Unrelated", doc("*", "*"))
        await w.group("others", unrelated, member=False)
        # The same policy through two paths appears once.
        async with w.db.write() as s:
            s.add(UserRole(user_id=w.user.id, role_id=via.id))
        count = [0]
        p = await w.principal(count)
        assert sorted(d.name for d in p.policies) == sorted(["Direct", "ViaGroup", SELF_SERVICE])
        assert p.scoped == ()
        assert count[0] <= 2
        assert authorize(p, "cr:ListNamespace", Resource("*")).allowed
        assert not authorize(p, "cr:DeleteNamespace", Resource("*")).allowed

    run(db_url, scenario)


def test_user_without_groups_costs_one_statement(db_url: str) -> None:
    async def scenario(w: World) -> None:
        role = await w.policy_role("Direct", doc("cr:ListNamespace", "*"))
        async with w.db.write() as s:
            s.add(UserRole(user_id=w.user.id, role_id=role.id))
        count = [0]
        await w.principal(count)
        assert count[0] == 1

    run(db_url, scenario)


def test_resource_sets_narrow_group_policies(db_url: str) -> None:
    async def scenario(w: World) -> None:
        role = await w.policy_role(
            "Push", doc(["cr:PullRepository", "cr:PushRepository", "cr:ListNamespace"], "*")
        )
        group = await w.group("team", role)
        await w.resource_set("set1", group, [("std", "team"), ("cri-adv", "team")], [])
        await w.resource_set("set2", group, [], ["cri-adv:misc/app"])
        count = [0]
        p = await w.principal(count)
        assert count[0] == 2
        assert [d.name for d in p.policies] == [SELF_SERVICE]
        assert len(p.scoped) == 1
        scoped = p.scoped[0]
        assert isinstance(scoped, ScopedPolicies)
        assert [d.name for d in scoped.policies] == ["Push"]
        std = InstanceRef("std", "r1", ACCOUNT, "Standard")
        adv = InstanceRef("cri-adv", "r1", ACCOUNT, "Advanced")
        assert set(scoped.resources) == {
            std.arn("repository/team"),
            std.arn("repository/team/*"),
            adv.arn("repository/team"),
            adv.arn("repository/team/*"),
            adv.repository_arn("misc/app"),
        }
        assert f"acs:cr:r1:{ACCOUNT}:repository/cri-adv/team/*" in scoped.resources
        assert f"acs:cr:r1:{ACCOUNT}:repository/team/*" in scoped.resources

    run(db_url, scenario)


def test_group_linked_to_empty_set_is_scoped_to_nothing(db_url: str) -> None:
    async def scenario(w: World) -> None:
        role = await w.policy_role("Pull", doc("cr:PullRepository", "*"))
        group = await w.group("empty", role)
        await w.resource_set("nothing", group, [], [])
        p = await w.principal()
        assert [d.name for d in p.policies] == [SELF_SERVICE]
        assert len(p.scoped) == 1 and p.scoped[0].resources == ()

    run(db_url, scenario)


# ---- services.identity: the rules that need a real database ---------------------------------

ADMIN = Caller("admin", administrator=True)


class Nodes:
    """Two identity services over one database, as two worker processes or nodes."""

    def __init__(self, url: str) -> None:
        self.dbs = [Database(url), Database(url)]
        master = MasterKey(b"k" * 32)
        self.services = [
            IdentityServices.build(db, AuditLog(db), AccountLookup(db), master) for db in self.dbs
        ]
        self.a = self.services[0]

    async def __aenter__(self) -> Nodes:
        await first_start(self.dbs[0], MasterKey(b"k" * 32), "Admin-password-1")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for db in self.dbs:
            await db.dispose()

    def node(self, i: int) -> IdentityServices:
        return self.services[i % 2]

    async def root(self) -> str:
        page = await self.a.organizations.list_organizations(PageRequest(1, 100))
        return next(o.id for o in page.items if o.parent_id is None)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.dbs[0].read() as s:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await s.execute(stmt)).scalar_one())


def scenario(url: str, body: Any) -> None:
    async def main() -> None:
        async with Nodes(url) as nodes:
            await body(nodes)

    asyncio.run(main())


def user_spec(name: str, org: str, **extra: Any) -> UserCreate:
    return UserCreate(
        username=name,
        display_name=name,
        organization_id=org,
        email=f"{name}@example.com",
        phone="+1-555-0100",
        password="Password123",
        **extra,
    )


def test_role_limit_under_concurrency(db_url: str) -> None:
    async def body(nodes: Nodes) -> None:
        existing = (await nodes.a.roles.list_roles(PageRequest(1, 100))).total
        assert existing == 1  # the built-in Administrator

        async def create(i: int) -> str:
            try:
                await nodes.node(i).roles.create_role(ADMIN, f"role{i:02d}")
            except LimitExceededError:
                return "limit"
            return "ok"

        results = await asyncio.gather(*(create(i) for i in range(25)))
        assert results.count("ok") == MAX_ROLES - existing
        assert await nodes.count(Role) == MAX_ROLES

    scenario(db_url, body)


def test_policy_limit_under_concurrency(db_url: str) -> None:
    async def body(nodes: Nodes) -> None:
        await nodes.a.roles.create_role(ADMIN, "target")
        for i in range(8):
            await nodes.a.policies.create_policy(ADMIN, f"p{i}", doc(f"cr:Get{i}", "*"))

        async def attach(i: int) -> str:
            try:
                await nodes.node(i).roles.attach_policy(ADMIN, "target", f"p{i}")
            except LimitExceededError:
                return "limit"
            return "ok"

        results = await asyncio.gather(*(attach(i) for i in range(8)))
        assert results.count("ok") == 5
        assert len((await nodes.a.roles.get_role("target")).policies) == 5

    scenario(db_url, body)


def test_concurrent_removals_keep_one_administrator(db_url: str) -> None:
    async def body(nodes: Nodes) -> None:
        root = await nodes.root()
        await nodes.a.users.create_user(ADMIN, user_spec("second", root, roles=("Administrator",)))

        async def detach(i: int, name: str) -> str:
            try:
                await nodes.node(i).users.detach_role_from_user(ADMIN, name, "Administrator")
            except ConflictError as exc:
                assert "last administrator" in exc.message
                return "refused"
            return "ok"

        results = await asyncio.gather(detach(0, "admin"), detach(1, "second"))
        assert sorted(results) == ["ok", "refused"]

    scenario(db_url, body)


def test_organization_tree_rules(db_url: str) -> None:
    async def body(nodes: Nodes) -> None:
        root = await nodes.root()
        a = await nodes.a.organizations.create_organization(ADMIN, "a", root)
        b = await nodes.a.organizations.create_organization(ADMIN, "b", a.id)
        with pytest.raises(InvalidInputError, match="cycle"):
            await nodes.a.organizations.update_organization(ADMIN, a.id, parent_id=b.id)
        with pytest.raises(ConflictError, match="child organizations"):
            await nodes.a.organizations.delete_organization(ADMIN, a.id)
        await nodes.a.groups.create_group(ADMIN, "grp", b.id)
        with pytest.raises(ConflictError, match="groups"):
            await nodes.a.organizations.delete_organization(ADMIN, b.id)
        await nodes.a.groups.delete_group(ADMIN, "grp")
        # A role made by a member of b names b: b stays while the role does.
        member = await nodes.a.users.create_user(ADMIN, user_spec("erin", b.id))
        erin = Caller("erin", member.id)
        await nodes.a.roles.create_role(erin, "erins", sharing_scope="organization")
        assert (await nodes.a.roles.get_role("erins")).organization_id == b.id
        await nodes.a.users.update_user(ADMIN, "erin", UserChanges(organization_id=root))
        with pytest.raises(ConflictError, match="1 roles"):
            await nodes.a.organizations.delete_organization(ADMIN, b.id)
        await nodes.a.roles.delete_role(ADMIN, "erins")
        await nodes.a.organizations.delete_organization(ADMIN, b.id)
        await nodes.a.organizations.delete_organization(ADMIN, a.id)

    scenario(db_url, body)


def test_changes_and_their_audit_rows_commit_together(db_url: str) -> None:
    async def body(nodes: Nodes) -> None:
        root = await nodes.root()
        who = Caller("admin", None, "10.1.2.3", administrator=True)
        await nodes.a.users.create_user(
            who, user_spec("carol", root, chat_webhook_key="secret-key")
        )
        rows = await nodes.count(AuditEvent, AuditEvent.action == "ram:CreateUser")
        assert rows == 1
        async with nodes.dbs[0].read() as s:
            event = (
                await s.execute(select(AuditEvent).where(AuditEvent.action == "ram:CreateUser"))
            ).scalar_one()
            user = (await s.execute(select(User).where(User.username == "carol"))).scalar_one()
        assert event.actor == "admin" and event.source_ip == "10.1.2.3"
        assert event.resource.endswith(":user/carol") and event.resource.startswith("acs:ram::")
        assert "secret-key" not in str(event.detail) and "Password123" not in str(event.detail)
        assert user.must_change_password and user.password_hash.startswith("$argon2")
        assert (
            user.chat_webhook_key_encrypted and b"secret-key" not in user.chat_webhook_key_encrypted
        )
        # A refused change leaves no row.
        with pytest.raises(AlreadyExistsError):
            await nodes.a.users.create_user(who, user_spec("carol", root))
        assert await nodes.count(AuditEvent, AuditEvent.action == "ram:CreateUser") == 1

    scenario(db_url, body)


def test_simulate_and_group_scoping_through_the_service(db_url: str) -> None:
    async def body(nodes: Nodes) -> None:
        root = await nodes.root()
        await nodes.a.policies.create_policy(ADMIN, "pull", doc("cr:PullRepository", "*"))
        await nodes.a.roles.create_role(ADMIN, "puller", policies=["pull"])
        await nodes.a.users.create_user(ADMIN, user_spec("dave", root))
        await nodes.a.groups.create_group(ADMIN, "pullers", root)
        await nodes.a.groups.attach_role_to_group(ADMIN, "pullers", "puller")
        await nodes.a.groups.add_group_member(ADMIN, "pullers", "dave")
        arn = "acs:cr:local:1:repository/default/ns/app"
        decision = await nodes.a.policies.simulate("dave", "cr:PullRepository", arn)
        assert decision.allowed and decision.policy == "pull" and decision.statement == 0
        await nodes.a.resource_sets.create_resource_set(ADMIN, "empty")
        await nodes.a.resource_sets.link_group(ADMIN, "empty", "pullers", link=True)
        decision = await nodes.a.policies.simulate("dave", "cr:PullRepository", arn)
        assert not decision.allowed
        await nodes.a.groups.remove_group_member(ADMIN, "pullers", "dave")
        decision = await nodes.a.policies.simulate("dave", "cr:PullRepository", arn)
        assert not decision.allowed and decision.policy is None

    scenario(db_url, body)
