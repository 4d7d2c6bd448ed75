"""Hot queries use indexes, never full scans: EXPLAIN on SQLite and PostgreSQL.

Each case runs the real service or query function that a hot request runs, against a
seeded database (bulk seeding: several hundred repositories with tags, a user in a group
linked to a resource set). Every SELECT it emits is captured from the engines
(``before_cursor_execute``) and explained with the same parameters:

* SQLite, ``EXPLAIN QUERY PLAN``: a ``SCAN <table>`` without an index on a hot table fails
  (``SEARCH``, ``SCAN … USING [COVERING] INDEX`` pass). Not ANALYZEd, as in production.
* PostgreSQL, ``EXPLAIN (FORMAT JSON)`` with ``SET enable_seqscan = off`` after ANALYZE:
  a ``Seq Scan`` over a hot table fails (with seq scans priced out, only a missing index
  leaves the planner no other way).

Passing that alone is not enough: an index on ``(instance_id)`` "searches" every
repository of the instance for a name. So each case also names, per table, the columns
that must all appear in the index condition — the lookup is by its full key — and paging
cases (tags list, catalog) must come out in index order: no sort step (SQLite ``USE TEMP
B-TREE FOR ORDER BY``, PostgreSQL ``Sort``), or a page would cost a sort of every row.

Also checked: the registry's hot reads are ONE statement each.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import event

from dockyard.metadata import migrate
from dockyard.metadata.models import (
    Account,
    AuthFailure,
    GroupMember,
    GroupRole,
    Instance,
    Policy,
    ResourceSet,
    ResourceSetGroup,
    Role,
    RolePolicy,
    Upload,
    User,
    UserGroup,
    UserRole,
)
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import credentials as credq
from dockyard.metadata.queries import identity as iq
from dockyard.metadata.queries import pulls as pullq
from dockyard.metadata.session import Database
from dockyard.oci.reference import RepositoryName
from dockyard.registry.token import TokenEndpoint
from dockyard.services.access import ANONYMOUS, InstanceRef, load_principal
from dockyard.services.audit import AuditLog
from dockyard.services.content import BulkService, ContentService
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

INSTANCE = "default"
ARN_ID = "1234567890123456"
REPOSITORIES = 600
NAMESPACES = 300
TAGS = 20
#: Rows of each identity table, of uploads and of auth failures.
SIDE_ROWS = 200

#: Tables that grow with use: a full scan of any of them on a hot path is a bug.
HOT_TABLES = {
    "repositories",
    "namespaces",
    "tags",
    "manifests",
    "manifest_references",
    "blobs",
    "repository_blobs",
    "uploads",
    "users",
    "user_roles",
    "user_groups",
    "group_members",
    "group_roles",
    "role_policies",
    "policies",
    "resource_set_groups",
    "auth_failures",
    "signature_policies",
    "scan_policies",
}


@dataclass
class Seeded:
    url: str
    root: Path
    repo: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    blob: str
    upload: str = ""
    account_id: uuid.UUID = field(default_factory=uuid.uuid4)
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    username: str = "plans-user"


class Services:
    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded
        self.db = Database(seeded.url)
        #: SQL run on SQLite's inline read connections while a capture is on. Hot reads run
        #: there on the DBAPI connection itself (queries/_rows.py), past SQLAlchemy's
        #: events, so sqlite3's trace callback (expanded SQL) is what sees them.
        self.traced: list[str] | None = None
        if self.db.inline_engine is not None:
            event.listen(self.db.inline_engine, "connect", self._trace)
        self.tenancy = TenancyService(self.db, AuditLog(self.db))
        self.content = ContentService(
            self.db, FilesystemBlobStore(seeded.root / "storage"), timedelta(hours=1)
        )

    async def repo(self) -> RepositoryRef:
        found = await self.tenancy.find_repository(INSTANCE, RepositoryName.parse(self.seeded.repo))
        assert found is not None
        return found

    def _trace(self, dbapi_conn: Any, _record: Any) -> None:
        def record(sql: str) -> None:
            if self.traced is not None:
                self.traced.append(sql)

        dbapi_conn.set_trace_callback(record)

    def engines(self) -> list[Any]:
        """The engines whose statements go through SQLAlchemy's cursor events."""
        engines = [self.db.read_engine.sync_engine, self.db.write_engine.sync_engine]
        return list({id(e): e for e in engines}.values())


async def _seed_rows(seeded: Seeded) -> None:
    services = Services(seeded)
    db = services.db
    try:
        async with db.write() as session:
            account = Account(id=seeded.account_id, arn_id=ARN_ID, name="plans")
            session.add(account)
            await session.flush()
            session.add(
                Instance(
                    id=INSTANCE,
                    account_id=account.id,
                    name="default",
                    region="local",
                    edition="Advanced",
                )
            )
        bulk = BulkService(db, services.content, services.tenancy)
        report = await bulk.seed(
            INSTANCE,
            repositories=REPOSITORIES,
            tags_per_repository=TAGS,
            prefix="plans",
            per_namespace=REPOSITORIES // NAMESPACES,
        )
        seeded.repo = report.sample_repository
        seeded.tags = report.tag_names
        seeded.digests = report.manifest_digests
        repo = await services.repo()
        seeded.blob = (await _linked_digests(services, repo))[0]
        seeded.upload = str((await services.content.start_upload(repo)).id)
        await _seed_identity(db, account.id, seeded)
        async with db.write() as session:
            # Other sessions' uploads and other addresses' failures, so that the planner has
            # a choice to make (a one-row table is read whole by any plan).
            expires = datetime.now(UTC) + timedelta(hours=1)
            session.add_all(
                Upload(repository_id=repo.id, storage_key=f"plans-{i}", expires_at=expires)
                for i in range(SIDE_ROWS)
            )
            session.add_all(
                AuthFailure(scope="registry", address=f"10.1.{i // 250}.{i % 250}")
                for i in range(SIDE_ROWS)
            )
        if db.dialect == "postgresql":
            async with db.write() as session:
                from sqlalchemy import text

                await session.execute(text("ANALYZE"))
    finally:
        await db.dispose()


async def _seed_identity(db: Database, account_id: uuid.UUID, seeded: Seeded) -> None:
    """SIDE_ROWS users, roles, policies and groups with links among them; the seeded user
    has a direct role and a group role, and the group is linked to a resource set holding
    a namespace and a repository (so the principal takes both of its statements)."""
    document = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["cr:PullRepository"], "Resource": ["*"]}],
    }
    n = SIDE_ROWS
    async with db.write() as session:
        root = await iq.ensure_root_organization(session, account_id, "root")
        users = [
            User(
                id=seeded.user_id if i == 0 else uuid.uuid4(),
                account_id=account_id,
                username=seeded.username if i == 0 else f"user{i}",
                display_name=f"User {i}",
                password_hash="x",
            )
            for i in range(n)
        ]
        policies = [
            Policy(account_id=account_id, name=f"pol{i}", document=document) for i in range(n)
        ]
        roles = [Role(account_id=account_id, name=f"role{i}") for i in range(n)]
        groups = [
            UserGroup(account_id=account_id, organization_id=root.id, name=f"group{i}")
            for i in range(n)
        ]
        sets = [ResourceSet(account_id=account_id, name=f"set{i}") for i in range(n)]
        session.add_all([*users, *policies, *roles, *groups, *sets])
        await session.flush()
        session.add_all(RolePolicy(role_id=roles[i].id, policy_id=policies[i].id) for i in range(n))
        session.add_all(UserRole(user_id=users[i].id, role_id=roles[i].id) for i in range(n))
        session.add_all(
            GroupMember(group_id=groups[i].id, user_id=users[(i + 1) % n].id) for i in range(n)
        )
        session.add_all(
            GroupRole(group_id=groups[i].id, role_id=roles[(i + 2) % n].id) for i in range(n)
        )
        session.add_all(
            ResourceSetGroup(resource_set_id=sets[i].id, group_id=groups[i].id) for i in range(n)
        )
        # The seeded user (users[0]) is in the last group; its set holds plans0001 and a repo.
        await session.flush()
        seeded_set = sets[n - 1].id
    async with db.write() as session:
        from sqlalchemy import update

        from dockyard.metadata.models import Namespace, Repository

        await session.execute(
            update(Namespace)
            .where(Namespace.name == "plans0001")
            .values(resource_set_id=seeded_set)
        )
        await session.execute(
            update(Repository)
            .where(Repository.full_name == seeded.repo)
            .values(resource_set_id=seeded_set)
        )


async def _linked_digests(services: Services, repo: RepositoryRef) -> list[str]:
    async with services.db.read() as session:
        return sorted(await cq.count_linked_blobs(session, repo.id, await _all_blobs(session)))


async def _all_blobs(session: Any) -> list[str]:
    from sqlalchemy import select

    from dockyard.metadata.models import Blob

    return list((await session.execute(select(Blob.digest))).scalars().all())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp(f"plans-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'dockyard.db'}"
        migrate.upgrade(url)
        drop = None
    else:
        server = request.getfixturevalue("postgres_server")
        template = request.getfixturevalue("_pg_migrated_template")
        name = server.create_database("plans", template=template)
        url = server.url(name)
        drop = (server, name)
    data = Seeded(url, root, "", (), (), "")
    asyncio.run(_seed_rows(data))
    yield data
    if drop is not None:
        drop[0].drop_database(drop[1])


# ---- capturing and explaining ---------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Any


async def capture(services: Services, run: Callable[[Services], Awaitable[Any]]) -> list[Statement]:
    """Every SELECT the engines send while ``run`` runs."""
    seen: list[Statement] = []

    def listener(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(Statement(statement, params))

    engines = services.engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", listener)
    services.traced = []
    try:
        await run(services)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", listener)
        traced, services.traced = services.traced, None
    seen += [
        Statement(sql, None)
        for sql in traced
        if sql.lstrip().upper().startswith(("SELECT", "WITH"))
    ]
    return seen


@dataclass(frozen=True)
class Access:
    """How the plan reads one table."""

    table: str
    full_scan: bool
    index: str | None
    #: The index condition's text (columns compared), empty for a scan.
    condition: str


@dataclass(frozen=True)
class Plan:
    text: str
    accesses: tuple[Access, ...]
    sorts: bool


_SQLITE_ACCESS = re.compile(
    r"^(?P<op>SCAN|SEARCH) (?P<table>\w+)(?: AS \w+)?"
    r"(?: USING (?:(?:COVERING )?INDEX (?P<index>\w+)|INTEGER PRIMARY KEY|PRIMARY KEY))?"
    r"(?: \((?P<cond>.*)\))?"
)


def explain_sqlite(path: str, stmt: Statement) -> Plan:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("EXPLAIN QUERY PLAN " + stmt.sql, stmt.params or ()).fetchall()
    finally:
        conn.close()
    details = [str(r[3]) for r in rows]
    accesses = []
    for detail in details:
        m = _SQLITE_ACCESS.match(detail)
        if not m:
            continue
        full_scan = m["op"] == "SCAN" and "USING" not in detail
        accesses.append(Access(m["table"], full_scan, m["index"], m["cond"] or ""))
    sorts = any("TEMP B-TREE FOR ORDER BY" in d for d in details)
    return Plan("\n".join(details), tuple(accesses), sorts)


async def explain_postgresql(url: str, stmt: Statement) -> Plan:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET enable_seqscan = off")
        index_tables = {
            r["indexname"]: r["tablename"]
            for r in await conn.fetch("SELECT indexname, tablename FROM pg_indexes")
        }
        raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + stmt.sql, *(stmt.params or ()))
    finally:
        await conn.close()
    doc = json.loads(raw) if isinstance(raw, str) else raw
    accesses: list[Access] = []
    sorts = False

    def walk(node: dict[str, Any]) -> None:
        nonlocal sorts
        kind = node["Node Type"]
        if kind in ("Sort", "Incremental Sort"):
            sorts = True
        if kind == "Seq Scan":
            accesses.append(Access(node["Relation Name"], True, None, node.get("Filter", "")))
        elif "Index Name" in node:
            table = node.get("Relation Name") or index_tables.get(node["Index Name"], "?")
            accesses.append(Access(table, False, node["Index Name"], node.get("Index Cond", "")))
        for child in node.get("Plans", []):
            walk(child)

    walk(doc[0]["Plan"])
    return Plan(_pg_text(doc[0]["Plan"]), tuple(accesses), sorts)


def _pg_text(node: dict[str, Any], depth: int = 0) -> str:
    """A compact plan: node type, relation, index and conditions, one line per node."""
    parts = [node["Node Type"]]
    for key in ("Relation Name", "Index Name", "Index Cond", "Filter", "Sort Key"):
        if key in node:
            parts.append(f"{key}={node[key]}")
    lines = ["  " * depth + " ".join(str(p) for p in parts)]
    lines += [_pg_text(child, depth + 1) for child in node.get("Plans", [])]
    return "\n".join(lines)


# ---- the hot queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Services], Awaitable[Any]]
    #: table → columns that must all be in the index condition of that table's access.
    keys: dict[str, set[str]]
    ordered: bool = False
    #: How many SELECTs the request may send (None: not checked).
    statements: int | None = None


async def _manifest_by_tag(s: Services) -> None:
    found = await s.content.lookup_manifest(INSTANCE, s.seeded.repo, s.seeded.tags[3])
    assert found.repo is not None and found.get().digest in s.seeded.digests


async def _manifest_by_digest(s: Services) -> None:
    found = await s.content.lookup_manifest(INSTANCE, s.seeded.repo, s.seeded.digests[1])
    assert found.get().digest == s.seeded.digests[1]


async def _manifest_of_repository(s: Services) -> None:
    repo = await s.repo()
    assert (await s.content.get_manifest(repo, s.seeded.tags[0])).digest in s.seeded.digests


async def _repository_by_name(s: Services) -> None:
    name = RepositoryName.parse(s.seeded.repo)
    assert await s.tenancy.find_repository(INSTANCE, name) is not None


async def _blob_head(s: Services) -> None:
    found = await s.content.lookup_blob(INSTANCE, s.seeded.repo, s.seeded.blob)
    assert found.get() > 0


async def _blob_stat(s: Services) -> None:
    assert await s.content.stat_blob(await s.repo(), s.seeded.blob) > 0


async def _manifest_push_blob_check(s: Services) -> None:
    repo = await s.repo()
    async with s.db.read() as session:
        assert await cq.count_linked_blobs(session, repo.id, [s.seeded.blob]) == {s.seeded.blob}


async def _tags_first_page(s: Services) -> None:
    found = await s.content.lookup_tags(INSTANCE, s.seeded.repo, None, 5)
    assert found.get() == (list(s.seeded.tags[:5]), True)


async def _tags_next_page(s: Services) -> None:
    found = await s.content.lookup_tags(INSTANCE, s.seeded.repo, s.seeded.tags[4], 5)
    assert found.get() == (list(s.seeded.tags[5:10]), True)


async def _catalog_page(s: Services) -> None:
    names = await s.tenancy.list_repository_names(INSTANCE, s.seeded.repo, 100)
    assert len(names) == 100 and names[0] > s.seeded.repo


async def _namespace_repositories_page(s: Services) -> None:
    """The console's and the API's repository list of a namespace (its first page), and the
    namespace with its repository count."""
    namespace = s.seeded.repo.split("/", 1)[0]
    page = await s.tenancy.list_repositories(INSTANCE, PageRequest(1, 20), namespace=namespace)
    assert page.items and all(r.full_name.startswith(f"{namespace}/") for r in page.items)
    assert (await s.tenancy.get_namespace(INSTANCE, namespace)).repository_count == page.total


async def _referrers(s: Services) -> None:
    repo = await s.repo()
    assert await s.content.referrers(repo, s.seeded.digests[0], None) == []
    assert await s.content.referrers(repo, s.seeded.digests[0], "application/x.sbom") == []


async def _upload_row(s: Services) -> None:
    state = await s.content.upload_status(await s.repo(), s.seeded.upload)
    assert state.size == 0


async def _token_repository_lookup(s: Services) -> None:
    endpoint = TokenEndpoint(cast(Any, None), s.tenancy)
    instance = InstanceRef(INSTANCE, "local", ARN_ID, "Advanced")
    await endpoint._grant(ANONYMOUS, instance, [f"repository:{s.seeded.repo}:pull"])


async def _user_by_name(s: Services) -> None:
    async with s.db.read() as session:
        assert await iq.find_user(session, s.seeded.account_id, s.seeded.username) is not None


async def _policies_of_user(s: Services) -> None:
    async with s.db.read() as session:
        user = await iq.find_user(session, s.seeded.account_id, s.seeded.username)
        assert user is not None
        principal = await load_principal(session, user, ARN_ID)
    assert principal.name == s.seeded.username


async def _registry_auth_failures(s: Services) -> None:
    async with s.db.read() as session:
        since = datetime.now(UTC) - timedelta(minutes=1)
        assert (await credq.auth_failures_since(session, "registry", "10.0.0.1", since))[0] == 0


async def _pulling_clients(s: Services) -> None:
    """Every blob GET counts the addresses downloading (the pulling-client limit)."""
    async with s.db.read() as session:
        now = datetime.now(UTC)
        assert await pullq.pulling_clients(session, INSTANCE, "10.0.0.1", now) == (0, False)


async def _tags_of_manifest(s: Services) -> None:
    repo = await s.repo()
    async with s.db.read() as session:
        row = await cq.find_manifest(session, repo.id, s.seeded.digests[0])
        assert row is not None
        assert len(await cq.tags_of_manifest(session, row.id)) == TAGS // 2


REPO_KEY = {"repositories": {"instance_id", "full_name"}}
#: Every manifest GET also asks, in the same statement, whether a signature policy or a
#: blocking scan policy gates the repository.
PULL_GATES = {"signature_policies": {"instance_id"}, "scan_policies": {"namespace_id"}}

CASES = [
    Case(
        "manifest_get_by_tag",
        _manifest_by_tag,
        {**REPO_KEY, **PULL_GATES, "tags": {"repository_id", "name"}, "manifests": {"id"}},
        statements=1,
    ),
    Case(
        "manifest_get_by_digest",
        _manifest_by_digest,
        {**REPO_KEY, **PULL_GATES, "manifests": {"repository_id", "digest"}},
        statements=1,
    ),
    Case(
        "manifest_of_repository_by_tag",
        _manifest_of_repository,
        {**REPO_KEY, "tags": {"repository_id", "name"}, "manifests": {"id"}},
    ),
    Case("repository_by_name", _repository_by_name, REPO_KEY, statements=1),
    Case(
        "blob_head",
        _blob_head,
        {**REPO_KEY, "blobs": {"digest"}, "repository_blobs": {"repository_id", "blob_id"}},
        statements=1,
    ),
    Case(
        "blob_link_check",
        _blob_stat,
        {"blobs": {"digest"}, "repository_blobs": {"repository_id", "blob_id"}},
    ),
    Case(
        "manifest_push_blob_check",
        _manifest_push_blob_check,
        {"blobs": {"digest"}, "repository_blobs": {"repository_id", "blob_id"}},
    ),
    Case(
        "tags_list_first_page",
        _tags_first_page,
        {**REPO_KEY, "tags": {"repository_id"}},
        ordered=True,
        statements=1,
    ),
    Case(
        "tags_list_next_page",
        _tags_next_page,
        {**REPO_KEY, "tags": {"repository_id", "name"}},
        ordered=True,
        statements=1,
    ),
    Case("catalog_page", _catalog_page, REPO_KEY, ordered=True, statements=1),
    # The namespace's rows only (PostgreSQL may sort them: a bitmap scan of one namespace).
    Case(
        "namespace_repositories_page",
        _namespace_repositories_page,
        {"repositories": {"namespace_id"}},
    ),
    Case("referrers", _referrers, {"manifests": {"repository_id", "subject_digest"}}),
    Case("upload_row", _upload_row, {"uploads": {"id"}}),
    Case("token_endpoint_repository_lookup", _token_repository_lookup, REPO_KEY, statements=1),
    Case("user_by_name", _user_by_name, {"users": {"account_id", "username"}}, statements=1),
    Case(
        "policies_of_user",
        _policies_of_user,
        {
            "user_roles": {"user_id"},
            "group_members": {"user_id"},
            "group_roles": {"group_id"},
            "role_policies": {"role_id"},
            "policies": {"id"},
            "namespaces": {"resource_set_id"},
            "repositories": {"resource_set_id"},
        },
    ),
    Case(
        "registry_auth_failures",
        _registry_auth_failures,
        {"auth_failures": {"scope", "address"}},
    ),
    Case("tags_of_manifest", _tags_of_manifest, {"tags": {"manifest_id"}}),
    Case(
        "pulling_clients",
        _pulling_clients,
        {"pull_leases": {"instance_id", "expires_at"}},
        statements=1,
    ),
]


def _columns_in(condition: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", condition))


def problems(plan: Plan, case: Case) -> list[str]:
    out = []
    for access in plan.accesses:
        if access.full_scan and access.table in HOT_TABLES:
            out.append(f"full scan of {access.table}")
    for table, columns in case.keys.items():
        reads = [a for a in plan.accesses if a.table == table]
        for access in reads:
            missing = columns - _columns_in(access.condition)
            if missing and not access.full_scan:
                out.append(
                    f"{table} read through {access.index or 'an index'} without "
                    f"{sorted(missing)} in the index condition ({access.condition!r})"
                )
    if case.ordered and plan.sorts:
        out.append("sorts the rows instead of reading them in index order")
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hot_query_uses_indexes(seeded: Seeded, case: Case) -> None:
    async def scenario() -> list[tuple[Statement, Plan]]:
        services = Services(seeded)
        try:
            await case.run(services)  # warm: the first call may load caches
            statements = await capture(services, case.run)
            if case.statements is not None:
                assert len(statements) == case.statements, [s.sql for s in statements]
            explained = []
            for stmt in statements:
                if services.db.dialect == "sqlite":
                    path = seeded.url.split("///", 1)[1]
                    explained.append((stmt, explain_sqlite(path, stmt)))
                else:
                    explained.append((stmt, await explain_postgresql(seeded.url, stmt)))
            return explained
        finally:
            await services.db.dispose()

    explained = asyncio.run(scenario())
    assert explained, "the case sent no SELECT"
    tables_read = {a.table for _, plan in explained for a in plan.accesses}
    assert set(case.keys) <= tables_read, f"expected reads of {set(case.keys) - tables_read}"
    failures = []
    for stmt, plan in explained:
        found = problems(plan, case)
        if found:
            failures.append(f"{'; '.join(found)}\n  SQL: {stmt.sql}\n  plan:\n{plan.text}")
    assert not failures, "\n\n".join(failures)


def test_row_query_returns_what_sqlalchemy_returns(seeded: Seeded) -> None:
    """The DBAPI fast path (SQLite) converts columns exactly as SQLAlchemy does."""
    from sqlalchemy import select

    from dockyard.metadata.models import Manifest, Tag
    from dockyard.metadata.queries._rows import RowQuery

    manifests, tags = Manifest.__table__, Tag.__table__
    stmt = (
        select(tags.c.id, tags.c.name, tags.c.updated_at, manifests.c.content, manifests.c.size)
        .join(manifests, manifests.c.id == tags.c.manifest_id)
        .where(tags.c.name <= seeded.tags[2])
        .order_by(tags.c.id)
        .limit(50)
    )

    async def scenario() -> None:
        services = Services(seeded)
        try:
            fast = await RowQuery(stmt).all(services.db, {})
            async with services.db.write() as session:  # never the fast path
                slow = [tuple(r) for r in (await session.execute(stmt)).all()]
        finally:
            await services.db.dispose()
        assert fast == slow and len(fast) == 50
        assert isinstance(fast[0][0], uuid.UUID) and fast[0][2].tzinfo is not None

    asyncio.run(scenario())


def test_bulk_seed_counts_rows_and_obeys_edition_limits(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from dockyard.errors import AlreadyExistsError, LimitExceededError
    from dockyard.metadata.models import Manifest, Namespace, Repository, RepositoryBlob, Tag

    url = f"sqlite:///{tmp_path / 'dockyard.db'}"
    migrate.upgrade(url)
    seeded = Seeded(url, tmp_path, "", (), (), "")

    async def scenario() -> None:
        services = Services(seeded)
        db = services.db
        try:
            async with db.write() as session:
                account = Account(arn_id=ARN_ID, name="bulk")
                session.add(account)
                await session.flush()
                session.add(
                    Instance(
                        id=INSTANCE,
                        account_id=account.id,
                        name="default",
                        region="local",
                        edition="Standard",
                    )
                )
            bulk = BulkService(db, services.content, services.tenancy)
            report = await bulk.seed(
                INSTANCE, repositories=1500, tags_per_repository=3, images=2, batch_rows=1000
            )
            assert (report.namespaces, report.repositories, report.tags) == (2, 1500, 4500)
            async with db.read() as session:

                async def count(model: Any) -> int:
                    stmt = select(func.count()).select_from(model)
                    return int((await session.execute(stmt)).scalar_one())

                assert await count(Namespace) == 2
                assert await count(Repository) == 1500
                assert await count(Manifest) == 3000
                assert await count(Tag) == 4500
                assert await count(RepositoryBlob) == 1500 * 4  # config + layer, 2 images
            # Every seeded repository serves its tags and its image's blobs.
            found = await services.content.lookup_manifest(INSTANCE, "seed0001/r001499", "v00001")
            assert found.get().digest == report.manifest_digests[1]
            blob = await services.content.lookup_blob(
                INSTANCE, "seed0001/r001499", next(iter(await _blob_digests(db)))
            )
            assert blob.get() > 0
            # Standard allows 2,000 repositories: 1,500 + 600 is refused, nothing written.
            with pytest.raises(LimitExceededError):
                await bulk.seed(INSTANCE, repositories=600, tags_per_repository=1, prefix="more")
            with pytest.raises(AlreadyExistsError):
                await bulk.seed(INSTANCE, repositories=10, tags_per_repository=1)
            async with db.read() as session:
                assert (
                    await session.execute(select(func.count()).select_from(Repository))
                ).scalar_one() == 1500
        finally:
            await db.dispose()

    asyncio.run(scenario())


async def _blob_digests(db: Database) -> list[str]:
    async with db.read() as session:
        return await _all_blobs(session)
