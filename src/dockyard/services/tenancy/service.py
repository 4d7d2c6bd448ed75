"""Instances, their endpoints, namespaces and repositories.

Routing: a registry request reaches an instance by ``Host`` among its endpoint domains, and
an endpoint with an allowlist serves only the source addresses in it. Management: every
create that an edition limits takes the instance row's lock, counts, then inserts, in one
transaction, so concurrent creates cannot overshoot (``services.tenancy.editions``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK
from dockyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DeniedError,
    InvalidInputError,
    NotFoundError,
)
from dockyard.events import EventType
from dockyard.metadata.models import (
    EndpointAclEntry,
    Instance,
    InstanceEndpoint,
    Namespace,
    Organization,
    ResourceSet,
)
from dockyard.metadata.models import Repository as RepositoryRow
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import identity as iq
from dockyard.metadata.queries import pulls as pq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.oci.reference import RepositoryName, check_new_namespace, check_new_repository
from dockyard.services.access import InstanceRef
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.identity.rules import parse_organization_id
from dockyard.services.paging import Page, PageRequest, check_etag
from dockyard.services.tenancy import editions
from dockyard.services.tenancy.editions import Feature, Limit
from dockyard.services.tenancy.errors import (
    DowngradeRefusedError,
    InstanceNotEmptyError,
    InstanceNotFoundError,
    NamespaceNotEmptyError,
    NamespaceNotFoundError,
    NameUnknownError,
    RepositoryNotFoundError,
)
from dockyard.services.tenancy.rules import (
    REPOSITORY_TYPES,
    TAG_MUTABILITIES,
    check_instance_fields,
    check_new_name,
    check_texts,
    conforms,
    normalize_endpoints,
    one_of,
)
from dockyard.services.tenancy.views import (
    AllowlistEntry,
    Endpoint,
    HostRoute,
    InstanceChanges,
    InstanceLimits,
    InstanceView,
    LimitUse,
    NamespaceChanges,
    NamespaceView,
    NonconformingNames,
    Placement,
    RepositoryChanges,
    RepositoryRef,
    RepositoryView,
    ref_of_key,
)

INSTANCE_CACHE_SECONDS = 5.0
#: The instance made on first start, which serves every host no endpoint claims.
DEFAULT_INSTANCE = "default"
#: A creation that names no organization, resource set or region: each takes its default.
UNPLACED = Placement()


def _ref(repo: RepositoryRow, instance: Instance) -> RepositoryRef:
    return RepositoryRef(
        repo.id,
        repo.instance_id,
        repo.full_name,
        repo.type == "public",
        repo.tag_mutability == "Immutable",
        instance.edition,
    )


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


#: Resource set names by id: views show a set by its name, as the identity API does.
SetNames = Mapping[uuid.UUID, str]


def _namespace_view(
    row: Namespace, repository_count: int, region: str, set_names: SetNames
) -> NamespaceView:
    return NamespaceView(
        row.instance_id,
        row.name,
        row.auto_create,
        row.default_repository_type,
        repository_count,
        str(row.organization_id) if row.organization_id else None,
        set_names.get(row.resource_set_id) if row.resource_set_id else None,
        region,
        row.created_at,
        row.updated_at,
    )


def _repository_view(
    row: RepositoryRow, namespace: str, region: str, set_names: SetNames
) -> RepositoryView:
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
        str(row.organization_id) if row.organization_id else None,
        set_names.get(row.resource_set_id) if row.resource_set_id else None,
        region,
        row.created_at,
        row.updated_at,
    )


async def _set_names(session: AsyncSession, rows: Sequence[Namespace | RepositoryRow]) -> SetNames:
    return await iq.names_of(session, ResourceSet, [r.resource_set_id for r in rows])


async def _locked_instance(session: AsyncSession, instance_id: str) -> Instance:
    """The instance, locked for the rest of the transaction (its limits and edition hold)."""
    instance = await tq.lock_instance(session, instance_id)
    if instance is None:
        raise InstanceNotFoundError(f"instance {instance_id} does not exist")
    return instance


def _changed(changes: object, *columns: str) -> dict[str, Any]:
    """The ``columns`` a change request sets, with their new values (None leaves one as it
    is)."""
    values = {column: getattr(changes, column) for column in columns}
    return {column: value for column, value in values.items() if value is not None}


async def _region(session: AsyncSession, instance_id: str) -> str:
    """A namespace's or repository's region: always its instance's (not stored apart)."""
    instance = await tq.find_instance(session, instance_id)
    if instance is None:
        raise InstanceNotFoundError(f"instance {instance_id} does not exist")
    return instance.region


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where a new namespace or repository is placed: its organization and resource set."""

    organization_id: uuid.UUID | None
    resource_set: ResourceSet | None

    @property
    def resource_set_id(self) -> uuid.UUID | None:
        return self.resource_set.id if self.resource_set else None

    @property
    def set_names(self) -> SetNames:
        """For the view of the new row (no query: the set was just read)."""
        return {self.resource_set.id: self.resource_set.name} if self.resource_set else {}


async def _placed(
    session: AsyncSession,
    instance: Instance,
    placement: Placement,
    organization_id: uuid.UUID | None = None,
) -> _Placed:
    """The organization id and resource set a creation names, checked to exist.

    ``organization_id`` is the default when none is given. The region must be the
    instance's: an instance serves one region, so its contents live there too.
    """
    if placement.region is not None and placement.region != instance.region:
        raise InvalidInputError(
            f"region: must be the instance's region {instance.region}, not {placement.region!r}"
        )
    if placement.organization_id is not None:
        wanted = parse_organization_id(placement.organization_id, "organizationId")
        if await iq.find_by_id(session, Organization, instance.account_id, wanted) is None:
            raise InvalidInputError(
                f"organizationId: organization {placement.organization_id} does not exist"
            )
        organization_id = wanted
    resource_set = None
    if placement.resource_set is not None:
        resource_set = await iq.find_named(
            session, ResourceSet, instance.account_id, placement.resource_set
        )
        if resource_set is None:
            raise InvalidInputError(
                f"resourceSet: resource set {placement.resource_set} does not exist"
            )
    return _Placed(organization_id, resource_set)


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
                session, endpoint.instance_id if endpoint else DEFAULT_INSTANCE
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
        check_new_name(name)
        async with self._db.write() as session:
            instance = await _locked_instance(session, instance_id)
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
                return _ref(existing, instance)
            await self._check_repository_limits(session, instance, namespace)
            repo, created = await tq.insert_repository_if_absent(
                session, namespace, name.repository, _repository_id()
            )
            if created:
                await cq.add_outbox_event(
                    session, instance_id, EventType.REPOSITORY_CREATED, {"repository": str(name)}
                )
            return _ref(repo, instance)

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

    async def nonconforming_names(self) -> NonconformingNames:
        """Stored namespaces and repositories whose names a create would refuse today
        (``dockyard db upgrade`` lists them; they stay readable, pullable and deletable)."""
        async with self._db.read() as session:
            namespaces = await tq.namespace_names_with(session, "_")
            repositories = await tq.repository_names_with(session, "_")
        # Dockyard's own rule leaves letters, digits, '-' and '_'; only '_' (three in a row,
        # or beside '-') can break the OCI grammar, so only names holding one are read.
        return NonconformingNames(
            tuple(pair for pair in namespaces if not conforms(pair[1])),
            tuple(pair for pair in repositories if not conforms(pair[1])),
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
        check_instance_fields(name, region)
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

    async def instance_limits(self, instance_id: str) -> InstanceLimits:
        """Each counted limit of the instance's edition beside what it counts now (the
        namespaces, the repositories, the fullest namespace's, the clients pulling)."""
        async with self._db.read() as session:
            row = await tq.find_instance(session, instance_id)
            if row is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            used = {
                Limit.NAMESPACES: await tq.count_namespaces(session, instance_id),
                Limit.REPOSITORIES: await tq.count_repositories(session, instance_id),
                Limit.REPOSITORIES_PER_NAMESPACE: await tq.largest_namespace_size(
                    session, instance_id
                ),
                Limit.PULLING_CLIENTS: await pq.count_pulling_clients(
                    session, instance_id, SYSTEM_CLOCK.now()
                ),
            }
        plan = editions.edition(row.edition)
        uses = tuple(LimitUse(kind.value, plan.limit(kind), used[kind]) for kind in Limit)
        return InstanceLimits(instance_id, row.edition, uses)

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
        check_instance_fields(changes.name, changes.region)
        normalized = (
            normalize_endpoints(changes.endpoints) if changes.endpoints is not None else None
        )
        with _domain_collision():
            async with self._db.write() as session:
                row = await _locked_instance(session, instance_id)
                check_etag((await self._instance_view(session, instance_id)).etag, if_match)
                if changes.edition is not None and changes.edition != row.edition:
                    await self._check_downgrade(session, row, changes.edition)
                values = _changed(changes, "name", "region", "edition")
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

    async def delete_instance(
        self,
        instance_id: str,
        *,
        force: bool = False,
        actor: Actor | None = None,
        resource: str = "",
    ) -> None:
        """Delete the instance with its endpoints and contents, in one transaction.

        Refused while it holds namespaces unless ``force``; the default instance is never
        deleted, since hosts no endpoint claims are routed to it. ``actor`` and ``resource``
        (its ARN) name the deletion in the audit log. No outbox event: events belong to an
        instance, and this one is gone; the audit row records it.
        """
        if instance_id == DEFAULT_INSTANCE:
            raise ConflictError(
                "the default instance cannot be deleted: it serves every host that no "
                "endpoint claims"
            )
        async with self._db.write() as session:
            await _locked_instance(session, instance_id)
            namespaces = await tq.count_namespaces(session, instance_id)
            if namespaces and not force:
                raise InstanceNotEmptyError(
                    f"instance {instance_id} still holds {namespaces} namespaces; "
                    "delete them first or pass force=true"
                )
            repositories = await tq.delete_instance(session, instance_id)
            detail = {
                "instance": instance_id,
                "namespaces": namespaces,
                "repositories": repositories,
            }
            await self._audit.change(session, actor, "cr:DeleteInstance", resource, detail)
        self._routes.clear()

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
        placement: Placement = UNPLACED,
    ) -> NamespaceView:
        """``placement``'s resource set, when given, takes the namespace in as a member."""
        check_new_namespace(name)
        one_of(default_repository_type, REPOSITORY_TYPES, "defaultRepositoryType")
        async with self._db.write() as session:
            instance = await _locked_instance(session, instance_id)
            if await tq.find_namespace(session, instance_id, name) is not None:
                raise AlreadyExistsError(f"namespace {name} already exists")
            editions.check_limit(
                instance, Limit.NAMESPACES, await tq.count_namespaces(session, instance_id)
            )
            placed = await _placed(session, instance, placement)
            row = Namespace(
                instance_id=instance_id,
                name=name,
                auto_create=auto_create,
                default_repository_type=default_repository_type,
                organization_id=placed.organization_id,
                resource_set_id=placed.resource_set_id,
            )
            tq.add_namespace(session, row)
            await session.flush()
            await cq.add_outbox_event(
                session, instance_id, EventType.NAMESPACE_CREATED, {"namespace": name}
            )
            return _namespace_view(row, 0, instance.region, placed.set_names)

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
            region = await _region(session, instance_id)
            set_names = await _set_names(session, [row])
        return _namespace_view(row, count, region, set_names)

    async def list_namespaces(self, instance_id: str, page: PageRequest) -> Page[NamespaceView]:
        async with self._db.read() as session:
            region = await _region(session, instance_id)
            rows, total = await tq.list_namespaces(
                session, instance_id, page.offset, page.page_size
            )
            counts = await tq.repository_counts(session, [r.id for r in rows])
            set_names = await _set_names(session, rows)
        items = [_namespace_view(r, counts.get(r.id, 0), region, set_names) for r in rows]
        return Page(items, page.page, page.page_size, total)

    async def update_namespace(
        self,
        instance_id: str,
        name: str,
        changes: NamespaceChanges,
        if_match: str | None = None,
    ) -> NamespaceView:
        if changes.default_repository_type is not None:
            one_of(changes.default_repository_type, REPOSITORY_TYPES, "defaultRepositoryType")
        async with self._db.write() as session:
            row = await self._namespace(session, instance_id, name)
            count = await tq.count_repositories(session, instance_id, row.id)
            region = await _region(session, instance_id)
            set_names = await _set_names(session, [row])
            check_etag(_namespace_view(row, count, region, set_names).etag, if_match)
            values = _changed(changes, "auto_create", "default_repository_type")
            await tq.update_row(session, row, **values)
            await cq.add_outbox_event(
                session,
                instance_id,
                EventType.NAMESPACE_UPDATED,
                {"namespace": name, "fields": sorted(values)},
            )
            return _namespace_view(row, count, region, set_names)

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
        placement: Placement = UNPLACED,
    ) -> RepositoryView:
        """The organization defaults to the namespace's; ``placement``'s resource set, when
        given, takes the repository in as a member."""
        check_new_repository(name)
        if repository_type is not None:
            one_of(repository_type, REPOSITORY_TYPES, "type")
        one_of(tag_mutability, TAG_MUTABILITIES, "tagMutability")
        check_texts(summary, description)
        async with self._db.write() as session:
            instance = await _locked_instance(session, instance_id)
            if tag_mutability == "Immutable":
                editions.require_feature(instance, Feature.IMMUTABLE_REPOSITORY)
            ns = await self._namespace(session, instance_id, namespace)
            # A namespace stored before the OCI grammar was enforced takes no new names.
            check_new_namespace(namespace)
            full_name = f"{namespace}/{name}"
            if await tq.find_repository(session, instance_id, full_name) is not None:
                raise AlreadyExistsError(f"repository {full_name} already exists")
            await self._check_repository_limits(session, instance, ns)
            placed = await _placed(session, instance, placement, ns.organization_id)
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
                organization_id=placed.organization_id,
                resource_set_id=placed.resource_set_id,
            )
            tq.add_repository(session, row)
            await session.flush()
            await cq.add_outbox_event(
                session, instance_id, EventType.REPOSITORY_CREATED, {"repository": full_name}
            )
            return _repository_view(row, namespace, instance.region, placed.set_names)

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
            region = await _region(session, instance_id)
            set_names = await _set_names(session, [row])
        return _repository_view(row, namespace, region, set_names)

    async def repository_ref(self, instance_id: str, namespace: str, name: str) -> RepositoryRef:
        async with self._db.read() as session:
            row = await self._repository(session, instance_id, namespace, name)
            instance = await tq.find_instance(session, instance_id)
        assert instance is not None  # the repository's foreign key holds it
        return _ref(row, instance)

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
            region = await _region(session, instance_id)
            rows, total = await tq.list_repositories(
                session, instance_id, namespace_id, name_contains, page.offset, page.page_size
            )
            set_names = await _set_names(session, rows)
        items = [_repository_view(r, r.full_name.split("/", 1)[0], region, set_names) for r in rows]
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
            one_of(changes.type, REPOSITORY_TYPES, "type")
        if changes.tag_mutability is not None:
            one_of(changes.tag_mutability, TAG_MUTABILITIES, "tagMutability")
        check_texts(changes.summary, changes.description)
        async with self._db.write() as session:
            instance = await _locked_instance(session, instance_id)
            row = await self._repository(session, instance_id, namespace, name)
            set_names = await _set_names(session, [row])
            view = _repository_view(row, namespace, instance.region, set_names)
            check_etag(view.etag, if_match)
            if changes.tag_mutability == "Immutable" and row.tag_mutability != "Immutable":
                editions.require_feature(instance, Feature.IMMUTABLE_REPOSITORY)
            values = _changed(changes, "type", "summary", "description", "tag_mutability")
            await tq.update_row(session, row, **values)
            await cq.add_outbox_event(
                session,
                instance_id,
                EventType.REPOSITORY_UPDATED,
                {"repository": row.full_name, "fields": sorted(values)},
            )
            return _repository_view(row, namespace, instance.region, set_names)

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


def _endpoint_rows(
    endpoints: Sequence[Endpoint],
) -> list[tuple[str, str, bool, list[tuple[str, str]]]]:
    return [
        (e.network_type, e.domain, e.enabled, [(a.cidr, a.description) for a in e.allowlist])
        for e in endpoints
    ]
