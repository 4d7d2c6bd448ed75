"""Storage usage of instances, namespaces and repositories, its explanation, and quotas.

The counters themselves change with each push and delete, in their transaction (the
content service and the delete queries, ``metadata.queries.usage``); this service reads
them, explains them and sets the quota. Namespace and instance figures are read from the
counters (constant time per namespace, one pass over the per-digest rows for the instance);
a repository's from its own manifests, bounded by the repository.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.queries import usage as q
from dockyard.metadata.session import Database
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy.errors import (
    InstanceNotFoundError,
    NamespaceNotFoundError,
    RepositoryNotFoundError,
)
from dockyard.services.usage.rules import check_quota, exact
from dockyard.services.usage.views import (
    Explanation,
    InstanceUsage,
    NamespaceDetail,
    NamespaceUsage,
    RepositoryUsage,
    SharedContent,
)

UPDATE_QUOTA_ACTION = "cr:UpdateQuota"
#: Shared digests an explanation lists, largest first.
EXPLAIN_LARGEST = 10

RULES = [
    "Logical bytes: every manifest of every repository as pushed: its own bytes plus its "
    "config and layers (an index: its own bytes; its child manifests count as themselves).",
    "Deduplicated bytes: each distinct digest (manifest, config or layer) once per "
    "namespace, however many manifests, tags or repositories of the namespace hold it; "
    "a layer shared by repositories of one namespace is counted once. The instance counts "
    "each digest once across its namespaces.",
    "Tags cost nothing: a tag points at a manifest that is counted once. Deleting a tag "
    "changes usage only when retention or a delete removes the manifest with it.",
    "Only manifests count: blobs uploaded but not yet named by a manifest, and foreign "
    "(non-distributable) layers, which are never stored here, do not.",
    "The quota is checked against deduplicated bytes: when an upload completes (a blob "
    "new to the namespace) and again, under the namespace's lock, when a manifest is "
    "pushed. A push is refused only when it adds bytes beyond the quota.",
]


class UsageService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    async def instance(self, instance_id: str, page: PageRequest) -> InstanceUsage:
        async with self._db.read() as session:
            if await tq.find_instance(session, instance_id) is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            logical, unique = await q.instance_figures(session, instance_id)
            rows, total = await q.namespace_page(session, instance_id, page.offset, page.page_size)
        namespaces = [NamespaceUsage(*row) for row in rows]
        return InstanceUsage(instance_id, logical, unique, namespaces, total)

    async def namespace(self, instance_id: str, name: str, page: PageRequest) -> NamespaceDetail:
        async with self._db.read() as session:
            namespace_id = await _namespace_id(session, instance_id, name)
            figures = NamespaceUsage(name, *await q.namespace_figures(session, namespace_id))
            rows, total = await q.repositories_of_namespace(
                session, namespace_id, page.offset, page.page_size
            )
            own = await q.repository_figures(session, [id_ for id_, _ in rows])
        repositories = [RepositoryUsage(repo_name, *own[id_]) for id_, repo_name in rows]
        return NamespaceDetail(figures, repositories, total)

    async def repository(self, instance_id: str, namespace: str, name: str) -> RepositoryUsage:
        full_name = f"{namespace}/{name}"
        async with self._db.read() as session:
            row = await tq.find_repository(session, instance_id, full_name)
            if row is None:
                await _namespace_id(session, instance_id, namespace)
                raise RepositoryNotFoundError(f"repository {full_name} does not exist")
            own = await q.repository_figures(session, [row.id])
        return RepositoryUsage(name, *own[row.id])

    async def explain(self, instance_id: str, name: str) -> Explanation:
        async with self._db.read() as session:
            namespace_id = await _namespace_id(session, instance_id, name)
            figures = NamespaceUsage(name, *await q.namespace_figures(session, namespace_id))
            distinct, shared, shared_bytes = await q.content_summary(session, namespace_id)
            largest = await q.largest_shared(session, namespace_id, EXPLAIN_LARGEST)
        rules = list(RULES)
        if figures.quota is not None:
            rules.append(
                f"Namespace {name} has a quota of {exact(figures.quota)}; it uses "
                f"{exact(figures.deduplicated)}."
            )
        return Explanation(
            figures,
            distinct,
            shared,
            shared_bytes,
            figures.logical - figures.deduplicated,
            rules,
            [SharedContent(*row) for row in largest],
        )

    async def set_quota(
        self,
        instance_id: str,
        name: str,
        quota: int | None,
        *,
        actor: Actor | None,
        resource: str,
    ) -> NamespaceUsage:
        """Set (or with None clear) the namespace's quota. A quota below the current usage
        is accepted: it refuses pushes that add bytes, until deletes bring usage under it."""
        check_quota(quota)
        async with self._db.write() as session:
            namespace_id = await _namespace_id(session, instance_id, name)
            logical, unique, previous = await q.lock_namespace(session, namespace_id)
            await q.set_quota(session, namespace_id, quota)
            detail = {"namespace": name, "quota": quota, "previous": previous}
            await self._audit.change(session, actor, UPDATE_QUOTA_ACTION, resource, detail)
        return NamespaceUsage(name, logical, unique, quota)


async def _namespace_id(session: AsyncSession, instance_id: str, name: str) -> uuid.UUID:
    row = await tq.find_namespace(session, instance_id, name)
    if row is None:
        if await tq.find_instance(session, instance_id) is None:
            raise InstanceNotFoundError(f"instance {instance_id} does not exist")
        raise NamespaceNotFoundError(f"namespace {name} does not exist")
    return row.id
