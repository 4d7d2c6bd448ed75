"""Instances, their endpoints, namespaces and repositories.

Routing: a registry request reaches an instance by ``Host`` among its endpoint domains, and
an endpoint with an allowlist serves only the source addresses in it. Management: every
create that an edition limits takes the instance row's lock, counts, then inserts, in one
transaction, so concurrent creates cannot overshoot (``services.editions``).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DeniedError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from dockyard.events import EventType
from dockyard.metadata.models import EndpointAclEntry, Instance, InstanceEndpoint, Namespace
from dockyard.metadata.models import Repository as RepositoryRow
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.oci.reference import NAMESPACE_RE, REPOSITORY_RE, RepositoryName
from dockyard.services import editions
from dockyard.services.access import InstanceRef
from dockyard.services.editions import Feature, Limit

if TYPE_CHECKING:  # audit imports the paging types from here
    from dockyard.services.audit import Actor, AuditLog

INSTANCE_CACHE_SECONDS = 5.0
NETWORK_TYPES = ("vpc", "public", "classic")
REPOSITORY_TYPES = ("private", "public")
TAG_MUTABILITIES = ("Flexible", "Immutable")
SUMMARY_MAX = 100
DESCRIPTION_MAX = 2000
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

T = TypeVar("T")


class NameUnknownError(NotFoundError):
    """The repository (or the namespace a push would need) does not exist."""


class InstanceNotFoundError(NotFoundError):
    """No instance has this id."""


class NamespaceNotFoundError(NotFoundError):
    """No namespace of this name in the instance."""


class RepositoryNotFoundError(NameUnknownError):
    """No repository of this name in the namespace."""


class NamespaceNotEmptyError(ConflictError):
    """A namespace that still holds repositories is deleted only when forced."""


class DowngradeRefusedError(ConflictError):
    """The instance holds more than the lower edition allows."""


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    id: uuid.UUID
    instance_id: str
    full_name: str
    public: bool
    immutable: bool


def ref_of_key(
    instance_id: str, full_name: str, id_: uuid.UUID, type_: str, mutability: str
) -> RepositoryRef:
    """A RepositoryRef from the plain columns of ``tq.REPOSITORY_KEY`` (hot paths)."""
    return RepositoryRef(id_, instance_id, full_name, type_ == "public", mutability == "Immutable")


def _ref(repo: RepositoryRow) -> RepositoryRef:
    return RepositoryRef(
        repo.id,
        repo.instance_id,
        repo.full_name,
        repo.type == "public",
        repo.tag_mutability == "Immutable",
    )


# ---- views and requests -------------------------------------------------------------------


def _etag(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def check_etag(current: str, if_match: str | None) -> None:
    """``If-Match``: absent, ``*`` or one of the listed entity tags matches ``current``."""
    if if_match is None:
        return
    wanted = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if "*" in wanted or current in wanted:
        return
    raise PreconditionFailedError(
        "the resource changed since it was read (If-Match does not match its ETag)"
    )


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    page_size: int = 30

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    cidr: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    network_type: str
    domain: str
    enabled: bool = True
    allowlist: tuple[AllowlistEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class InstanceView:
    id: str
    name: str
    region: str
    edition: str
    endpoints: tuple[Endpoint, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.id, self.name, self.region, self.edition, self.endpoints)


@dataclass(frozen=True, slots=True)
class InstanceChanges:
    name: str | None = None
    region: str | None = None
    edition: str | None = None
    endpoints: tuple[Endpoint, ...] | None = None


@dataclass(frozen=True, slots=True)
class NamespaceView:
    instance_id: str
    name: str
    auto_create: bool
    default_repository_type: str
    repository_count: int
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.instance_id, self.name, self.auto_create, self.default_repository_type)


@dataclass(frozen=True, slots=True)
class NamespaceChanges:
    auto_create: bool | None = None
    default_repository_type: str | None = None


@dataclass(frozen=True, slots=True)
class RepositoryView:
    id: str
    instance_id: str
    namespace: str
    name: str
    full_name: str
    type: str
    summary: str
    description: str
    tag_mutability: str
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return _etag(self.id, self.type, self.summary, self.description, self.tag_mutability)


@dataclass(frozen=True, slots=True)
class RepositoryChanges:
    type: str | None = None
    summary: str | None = None
    description: str | None = None
    tag_mutability: str | None = None


@dataclass(frozen=True, slots=True)
class HostRoute:
    """Where a ``Host`` leads: the instance, and the endpoint's allowlist (empty: open)."""

    instance: InstanceRef
    domain: str | None = None
    enabled: bool = True
    allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())

    def admits(self, address: str | None) -> bool:
        if not self.allowlist:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allowlist)


# ---- validation ---------------------------------------------------------------------------


def _one_of(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise InvalidInputError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _namespace_name(name: str) -> str:
    if not NAMESPACE_RE.fullmatch(name):
        raise InvalidInputError(
            f"invalid namespace {name!r}: 2-30 of a-z, 0-9, '-', '_', "
            "starting and ending with a letter or digit"
        )
    return name


def _repository_name(name: str) -> str:
    if not REPOSITORY_RE.fullmatch(name):
        raise InvalidInputError(
            f"invalid repository {name!r}: 1-64 of a-z, 0-9, '-', '_', "
            "starting and ending with a letter or digit"
        )
    return name


def _texts(summary: str | None, description: str | None) -> None:
    if summary is not None and len(summary) > SUMMARY_MAX:
        raise InvalidInputError(f"summary is at most {SUMMARY_MAX} characters")
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise InvalidInputError(f"description is at most {DESCRIPTION_MAX} characters")


def normalize_endpoints(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """Validated endpoints: one per network type, lowercase domains, canonical CIDRs."""
    seen_types: set[str] = set()
    seen_domains: set[str] = set()
    out = []
    for endpoint in endpoints:
        _one_of(endpoint.network_type, NETWORK_TYPES, "network type")
        if endpoint.network_type in seen_types:
            raise InvalidInputError(f"more than one {endpoint.network_type} endpoint")
        seen_types.add(endpoint.network_type)
        domain = endpoint.domain.lower().rstrip(".")
        if not DOMAIN_RE.fullmatch(domain):
            raise InvalidInputError(f"invalid endpoint domain {endpoint.domain!r}")
        if domain in seen_domains:
            raise InvalidInputError(f"domain {domain} is given twice")
        seen_domains.add(domain)
        entries: dict[str, AllowlistEntry] = {}
        for entry in endpoint.allowlist:
            try:
                cidr = str(ipaddress.ip_network(entry.cidr.strip(), strict=False))
            except ValueError:
                raise InvalidInputError(f"invalid CIDR {entry.cidr!r}") from None
            entries.setdefault(cidr, AllowlistEntry(cidr, entry.description))
        out.append(
            Endpoint(
                endpoint.network_type,
                domain,
                endpoint.enabled,
                tuple(sorted(entries.values(), key=lambda e: e.cidr)),
            )
        )
    return tuple(sorted(out, key=lambda e: e.network_type))


def _endpoint_views(
    rows: Sequence[tuple[InstanceEndpoint, list[EndpointAclEntry]]],
) -> tuple[Endpoint, ...]:
    return tuple(
        Endpoint(
            endpoint.network_type,
            endpoint.domain,
            endpoint.enabled,
            tuple(AllowlistEntry(e.cidr, e.description) for e in entries),
        )
        for endpoint, entries in rows
    )


def _instance_view(
    row: Instance, endpoints: Sequence[tuple[InstanceEndpoint, list[EndpointAclEntry]]]
) -> InstanceView:
    return InstanceView(
        row.id,
        row.name,
        row.region,
        row.edition,
        _endpoint_views(endpoints),
        row.created_at,
        row.updated_at,
    )


def _namespace_view(row: Namespace, repository_count: int) -> NamespaceView:
    return NamespaceView(
        row.instance_id,
        row.name,
        row.auto_create,
        row.default_repository_type,
        repository_count,
        row.created_at,
        row.updated_at,
    )


def _repository_view(row: RepositoryRow, namespace: str) -> RepositoryView:
    return RepositoryView(
        row.public_id,
        row.instance_id,
        namespace,
        row.name,
        row.full_name,
        row.type,
        row.summary,
        row.description,
        row.tag_mutability,
        row.created_at,
        row.updated_at,
    )


class TenancyService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self._routes: dict[str, tuple[float, HostRoute]] = {}

    # ---- routing ---------------------------------------------------------------------------

    async def route_host(self, host: str) -> HostRoute:
        """The instance and endpoint ``host`` (port ignored) names, else the default one."""
        domain = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        domain = domain.lower().strip("[]").rstrip(".")
        hit = self._routes.get(domain)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        async with self._db.read() as session:
            endpoint = await tq.find_endpoint_by_domain(session, domain) if domain else None
            instance = await tq.find_instance(
                session, endpoint.instance_id if endpoint else "default"
            )
            account = await tq.find_account(session)
            acl = (await tq.endpoints_of(session, [instance.id])) if endpoint and instance else {}
        if instance is None or account is None:
            raise NotFoundError("no instance serves this host")
        ref = InstanceRef(instance.id, instance.region, account.arn_id, instance.edition)
        route = HostRoute(ref)
        if endpoint is not None:
            entries = next((e for ep, e in acl.get(instance.id, []) if ep.id == endpoint.id), [])
            route = HostRoute(
                ref,
                endpoint.domain,
                endpoint.enabled,
                tuple(ipaddress.ip_network(e.cidr, strict=False) for e in entries),
            )
        self._routes[domain] = (now + INSTANCE_CACHE_SECONDS, route)
        return route

    async def instance_for_host(self, host: str) -> InstanceRef:
        return (await self.route_host(host)).instance

    @staticmethod
    def check_source(route: HostRoute, address: str | None) -> None:
        """Refuse a request that arrived on a disabled endpoint or from outside its allowlist."""
        if not route.enabled:
            raise DeniedError(f"endpoint {route.domain} is disabled")
        if not route.admits(address):
            raise DeniedError(
                f"source address {address} is not in the access allowlist of endpoint "
                f"{route.domain}"
            )

    # ---- registry push and pull ------------------------------------------------------------

    async def find_repository(self, instance_id: str, name: RepositoryName) -> RepositoryRef | None:
        full_name = str(name)
        key = await tq.repository_key(self._db, instance_id, full_name)
        return ref_of_key(instance_id, full_name, *key) if key else None

    async def ensure_repository(self, instance_id: str, name: RepositoryName) -> RepositoryRef:
        """The repository a push goes to, created with its namespace when allowed.

        Obeys the same edition limits as the management API, under the same lock.
        """
        found = await self.find_repository(instance_id, name)
        if found is not None:
            return found
        async with self._db.write() as session:
            instance = await tq.lock_instance(session, instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            namespace = await tq.find_namespace(session, instance_id, name.namespace)
            if namespace is None:
                editions.check_limit(
                    instance, Limit.NAMESPACES, await tq.count_namespaces(session, instance_id)
                )
                namespace = await tq.insert_namespace_if_absent(
                    session, instance_id, name.namespace
                )
                await cq.add_outbox_event(
                    session, instance_id, EventType.NAMESPACE_CREATED, {"namespace": name.namespace}
                )
            if not namespace.auto_create:
                raise NameUnknownError(
                    f"repository {name} does not exist and namespace {name.namespace} "
                    "does not create repositories on push"
                )
            existing = await tq.find_repository(session, instance_id, str(name))
            if existing is not None:
                return _ref(existing)
            await self._check_repository_limits(session, instance, namespace)
            repo, created = await tq.insert_repository_if_absent(
                session, namespace, name.repository, _repository_id()
            )
            if created:
                await cq.add_outbox_event(
                    session, instance_id, EventType.REPOSITORY_CREATED, {"repository": str(name)}
                )
            return _ref(repo)

    @staticmethod
    async def _check_repository_limits(
        session: AsyncSession, instance: Instance, namespace: Namespace
    ) -> None:
        editions.check_limit(
            instance, Limit.REPOSITORIES, await tq.count_repositories(session, instance.id)
        )
        editions.check_limit(
            instance,
            Limit.REPOSITORIES_PER_NAMESPACE,
            await tq.count_repositories(session, instance.id, namespace.id),
        )

    async def list_repository_names(
        self, instance_id: str, last: str | None, limit: int
    ) -> list[str]:
        return await tq.repository_names_page(self._db, instance_id, last, limit)

    # ---- instances -------------------------------------------------------------------------

    async def instance_ref(self, instance_id: str) -> InstanceRef:
        """What ARNs need; read fresh, so an edition change applies at once."""
        async with self._db.read() as session:
            instance = await tq.find_instance(session, instance_id)
            account = await tq.find_account(session)
        if instance is None or account is None:
            raise InstanceNotFoundError(f"instance {instance_id} does not exist")
        return InstanceRef(instance.id, instance.region, account.arn_id, instance.edition)

    async def create_instance(
        self, name: str, region: str, edition: str, endpoints: Sequence[Endpoint] = ()
    ) -> InstanceView:
        editions.edition(edition)
        _instance_fields(name, region)
        normalized = normalize_endpoints(endpoints)
        instance_id = f"cri-{secrets.token_hex(8)}"
        with _domain_collision():
            return await self._insert_instance(instance_id, name, region, edition, normalized)

    async def _insert_instance(
        self,
        instance_id: str,
        name: str,
        region: str,
        edition: str,
        normalized: tuple[Endpoint, ...],
    ) -> InstanceView:
        async with self._db.write() as session:
            account = await tq.find_account(session)
            if account is None:
                raise NotFoundError("no account; run the first-start setup")
            await self._check_domains_free(session, instance_id, normalized)
            tq.add_instance(
                session,
                Instance(
                    id=instance_id,
                    account_id=account.id,
                    name=name,
                    region=region,
                    edition=edition,
                ),
            )
            await session.flush()
            await tq.replace_endpoints(session, instance_id, _endpoint_rows(normalized))
            await cq.add_outbox_event(
                session, instance_id, EventType.INSTANCE_CREATED, {"instance": instance_id}
            )
            return await self._instance_view(session, instance_id)

    async def list_instances(self, page: PageRequest) -> Page[InstanceView]:
        async with self._db.read() as session:
            rows, total = await tq.list_instances(session, page.offset, page.page_size)
            endpoints = await tq.endpoints_of(session, [r.id for r in rows])
        items = [_instance_view(r, endpoints.get(r.id, [])) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def get_instance(self, instance_id: str) -> InstanceView:
        async with self._db.read() as session:
            return await self._instance_view(session, instance_id)

    @staticmethod
    async def _instance_view(session: AsyncSession, instance_id: str) -> InstanceView:
        row = await tq.find_instance(session, instance_id)
        if row is None:
            raise InstanceNotFoundError(f"instance {instance_id} does not exist")
        endpoints = await tq.endpoints_of(session, [instance_id])
        return _instance_view(row, endpoints.get(instance_id, []))

    async def update_instance(
        self, instance_id: str, changes: InstanceChanges, if_match: str | None = None
    ) -> InstanceView:
        if changes.edition is not None:
            editions.edition(changes.edition)
        _instance_fields(changes.name, changes.region)
        normalized = (
            normalize_endpoints(changes.endpoints) if changes.endpoints is not None else None
        )
        with _domain_collision():
            async with self._db.write() as session:
                row = await tq.lock_instance(session, instance_id)
                if row is None:
                    raise InstanceNotFoundError(f"instance {instance_id} does not exist")
                check_etag((await self._instance_view(session, instance_id)).etag, if_match)
                if changes.edition is not None and changes.edition != row.edition:
                    await self._check_downgrade(session, row, changes.edition)
                values = {
                    k: v
                    for k, v in (
                        ("name", changes.name),
                        ("region", changes.region),
                        ("edition", changes.edition),
                    )
                    if v is not None
                }
                await tq.update_instance(session, row, **values)
                if normalized is not None:
                    await self._check_domains_free(session, instance_id, normalized)
                    await tq.replace_endpoints(session, instance_id, _endpoint_rows(normalized))
                await cq.add_outbox_event(
                    session,
                    instance_id,
                    EventType.INSTANCE_UPDATED,
                    {
                        "instance": instance_id,
                        "fields": sorted(values)
                        + (["endpoints"] if normalized is not None else []),
                    },
                )
                view = await self._instance_view(session, instance_id)
        self._routes.clear()
        return view

    @staticmethod
    async def _check_downgrade(session: AsyncSession, row: Instance, target: str) -> None:
        uses = set()
        if await tq.count_immutable_repositories(session, row.id):
            uses.add(Feature.IMMUTABLE_REPOSITORY)
        reasons = editions.downgrade_blockers(
            target,
            namespaces=await tq.count_namespaces(session, row.id),
            repositories=await tq.count_repositories(session, row.id),
            largest_namespace=await tq.largest_namespace_size(session, row.id),
            uses=uses,
        )
        if reasons:
            raise DowngradeRefusedError(
                f"instance {row.id} cannot change to the {target} edition: " + "; ".join(reasons),
                detail={"reasons": reasons},
            )

    @staticmethod
    async def _check_domains_free(
        session: AsyncSession, instance_id: str, endpoints: Sequence[Endpoint]
    ) -> None:
        for endpoint in endpoints:
            other = await tq.find_endpoint_by_domain(session, endpoint.domain)
            if other is not None and other.instance_id != instance_id:
                raise AlreadyExistsError(
                    f"domain {endpoint.domain} is already an endpoint of another instance"
                )

    # ---- namespaces ------------------------------------------------------------------------

    async def create_namespace(
        self,
        instance_id: str,
        name: str,
        *,
        auto_create: bool = True,
        default_repository_type: str = "private",
    ) -> NamespaceView:
        _namespace_name(name)
        _one_of(default_repository_type, REPOSITORY_TYPES, "defaultRepositoryType")
        async with self._db.write() as session:
            instance = await tq.lock_instance(session, instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            if await tq.find_namespace(session, instance_id, name) is not None:
                raise AlreadyExistsError(f"namespace {name} already exists")
            editions.check_limit(
                instance, Limit.NAMESPACES, await tq.count_namespaces(session, instance_id)
            )
            row = Namespace(
                instance_id=instance_id,
                name=name,
                auto_create=auto_create,
                default_repository_type=default_repository_type,
            )
            tq.add_namespace(session, row)
            await session.flush()
            await cq.add_outbox_event(
                session, instance_id, EventType.NAMESPACE_CREATED, {"namespace": name}
            )
            return _namespace_view(row, 0)

    async def _namespace(self, session: AsyncSession, instance_id: str, name: str) -> Namespace:
        row = await tq.find_namespace(session, instance_id, name)
        if row is None:
            if await tq.find_instance(session, instance_id) is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            raise NamespaceNotFoundError(f"namespace {name} does not exist")
        return row

    async def get_namespace(self, instance_id: str, name: str) -> NamespaceView:
        async with self._db.read() as session:
            row = await self._namespace(session, instance_id, name)
            count = await tq.count_repositories(session, instance_id, row.id)
        return _namespace_view(row, count)

    async def list_namespaces(self, instance_id: str, page: PageRequest) -> Page[NamespaceView]:
        async with self._db.read() as session:
            if await tq.find_instance(session, instance_id) is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            rows, total = await tq.list_namespaces(
                session, instance_id, page.offset, page.page_size
            )
            counts = await tq.repository_counts(session, [r.id for r in rows])
        items = [_namespace_view(r, counts.get(r.id, 0)) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def update_namespace(
        self,
        instance_id: str,
        name: str,
        changes: NamespaceChanges,
        if_match: str | None = None,
    ) -> NamespaceView:
        if changes.default_repository_type is not None:
            _one_of(changes.default_repository_type, REPOSITORY_TYPES, "defaultRepositoryType")
        async with self._db.write() as session:
            row = await self._namespace(session, instance_id, name)
            count = await tq.count_repositories(session, instance_id, row.id)
            check_etag(_namespace_view(row, count).etag, if_match)
            values = {
                k: v
                for k, v in (
                    ("auto_create", changes.auto_create),
                    ("default_repository_type", changes.default_repository_type),
                )
                if v is not None
            }
            await tq.update_row(session, row, **values)
            await cq.add_outbox_event(
                session,
                instance_id,
                EventType.NAMESPACE_UPDATED,
                {"namespace": name, "fields": sorted(values)},
            )
            return _namespace_view(row, count)

    async def delete_namespace(
        self,
        instance_id: str,
        name: str,
        *,
        force: bool = False,
        actor: Actor | None = None,
        resource: str = "",
    ) -> None:
        """``actor`` and ``resource`` (its ARN) name the deletion in the audit log."""
        async with self._db.write() as session:
            row = await self._namespace(session, instance_id, name)
            count = await tq.count_repositories(session, instance_id, row.id)
            if count and not force:
                raise NamespaceNotEmptyError(
                    f"namespace {name} still holds {count} repositories; "
                    "delete them first or pass force=true"
                )
            repositories = await tq.delete_namespace(session, row.id)
            for full_name in repositories:
                await cq.add_outbox_event(
                    session, instance_id, EventType.REPOSITORY_DELETED, {"repository": full_name}
                )
            await cq.add_outbox_event(
                session, instance_id, EventType.NAMESPACE_DELETED, {"namespace": name}
            )
            detail = {"namespace": name, "repositories": len(repositories)}
            await self._audit.change(session, actor, "cr:DeleteNamespace", resource, detail)

    # ---- repositories ----------------------------------------------------------------------

    async def create_repository(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        *,
        repository_type: str | None = None,
        summary: str = "",
        description: str = "",
        tag_mutability: str = "Flexible",
    ) -> RepositoryView:
        _repository_name(name)
        if repository_type is not None:
            _one_of(repository_type, REPOSITORY_TYPES, "type")
        _one_of(tag_mutability, TAG_MUTABILITIES, "tagMutability")
        _texts(summary, description)
        async with self._db.write() as session:
            instance = await tq.lock_instance(session, instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            if tag_mutability == "Immutable":
                editions.require_feature(instance, Feature.IMMUTABLE_REPOSITORY)
            ns = await self._namespace(session, instance_id, namespace)
            full_name = f"{namespace}/{name}"
            if await tq.find_repository(session, instance_id, full_name) is not None:
                raise AlreadyExistsError(f"repository {full_name} already exists")
            await self._check_repository_limits(session, instance, ns)
            row = RepositoryRow(
                public_id=_repository_id(),
                instance_id=instance_id,
                namespace_id=ns.id,
                name=name,
                full_name=full_name,
                type=repository_type or ns.default_repository_type,
                summary=summary,
                description=description,
                tag_mutability=tag_mutability,
            )
            tq.add_repository(session, row)
            await session.flush()
            await cq.add_outbox_event(
                session, instance_id, EventType.REPOSITORY_CREATED, {"repository": full_name}
            )
            return _repository_view(row, namespace)

    async def _repository(
        self, session: AsyncSession, instance_id: str, namespace: str, name: str
    ) -> RepositoryRow:
        row = await tq.find_repository(session, instance_id, f"{namespace}/{name}")
        if row is None:
            await self._namespace(session, instance_id, namespace)
            raise RepositoryNotFoundError(f"repository {namespace}/{name} does not exist")
        return row

    async def get_repository(self, instance_id: str, namespace: str, name: str) -> RepositoryView:
        async with self._db.read() as session:
            row = await self._repository(session, instance_id, namespace, name)
        return _repository_view(row, namespace)

    async def repository_ref(self, instance_id: str, namespace: str, name: str) -> RepositoryRef:
        async with self._db.read() as session:
            return _ref(await self._repository(session, instance_id, namespace, name))

    async def list_repositories(
        self,
        instance_id: str,
        page: PageRequest,
        *,
        namespace: str | None = None,
        name_contains: str | None = None,
    ) -> Page[RepositoryView]:
        async with self._db.read() as session:
            namespace_id = None
            if namespace is not None:
                namespace_id = (await self._namespace(session, instance_id, namespace)).id
            elif await tq.find_instance(session, instance_id) is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            rows, total = await tq.list_repositories(
                session, instance_id, namespace_id, name_contains, page.offset, page.page_size
            )
        items = [_repository_view(r, r.full_name.split("/", 1)[0]) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def update_repository(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        changes: RepositoryChanges,
        if_match: str | None = None,
    ) -> RepositoryView:
        if changes.type is not None:
            _one_of(changes.type, REPOSITORY_TYPES, "type")
        if changes.tag_mutability is not None:
            _one_of(changes.tag_mutability, TAG_MUTABILITIES, "tagMutability")
        _texts(changes.summary, changes.description)
        async with self._db.write() as session:
            instance = await tq.lock_instance(session, instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            row = await self._repository(session, instance_id, namespace, name)
            check_etag(_repository_view(row, namespace).etag, if_match)
            if changes.tag_mutability == "Immutable" and row.tag_mutability != "Immutable":
                editions.require_feature(instance, Feature.IMMUTABLE_REPOSITORY)
            values = {
                k: v
                for k, v in (
                    ("type", changes.type),
                    ("summary", changes.summary),
                    ("description", changes.description),
                    ("tag_mutability", changes.tag_mutability),
                )
                if v is not None
            }
            await tq.update_row(session, row, **values)
            await cq.add_outbox_event(
                session,
                instance_id,
                EventType.REPOSITORY_UPDATED,
                {"repository": row.full_name, "fields": sorted(values)},
            )
            return _repository_view(row, namespace)

    async def delete_repository(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        *,
        actor: Actor | None = None,
        resource: str = "",
    ) -> None:
        """``actor`` and ``resource`` (its ARN) name the deletion in the audit log."""
        async with self._db.write() as session:
            row = await self._repository(session, instance_id, namespace, name)
            await tq.delete_repository(session, row.id)
            await cq.add_outbox_event(
                session, instance_id, EventType.REPOSITORY_DELETED, {"repository": row.full_name}
            )
            detail = {"repository": row.full_name}
            await self._audit.change(session, actor, "cr:DeleteRepository", resource, detail)


@contextlib.contextmanager
def _domain_collision() -> Iterator[None]:
    """Two instances claiming one domain at once: the unique key settles it."""
    try:
        yield
    except IntegrityError as exc:
        raise AlreadyExistsError("a domain is already an endpoint of another instance") from exc


def _repository_id() -> str:
    return f"crr-{secrets.token_hex(8)}"


def _instance_fields(name: str | None, region: str | None) -> None:
    if name is not None and not (1 <= len(name.strip()) <= 128 and name.isprintable()):
        raise InvalidInputError("instance name is 1-128 printable characters")
    if region is not None and not REGION_RE.fullmatch(region):
        raise InvalidInputError(
            f"invalid region {region!r}: 1-64 of a-z, 0-9 and '-', starting with a letter or digit"
        )


def _endpoint_rows(
    endpoints: Sequence[Endpoint],
) -> list[tuple[str, str, bool, list[tuple[str, str]]]]:
    return [
        (e.network_type, e.domain, e.enabled, [(a.cidr, a.description) for a in e.allowlist])
        for e in endpoints
    ]
