"""Storage usage counters: charged by a manifest push, released by every manifest delete.

Every change runs in the caller's transaction and takes the namespace's ``namespace_usage``
row lock before it reads the counts (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write
transactions are exclusive), so two pushes into one namespace count and check the quota one
after the other.
A push costs a fixed number of statements per manifest, whatever the namespace holds: the
per-digest counts (``namespace_content``) say whether a digest is new to the namespace
without scanning it. Callers take the namespace lock after their other row locks (tags,
manifests, the repository being deleted) and no new one after it but on rows they already
hold, so lock order is the same in every transaction and none waits in a cycle.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, case, delete, func, insert, literal, select, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import (
    Manifest,
    ManifestReference,
    Namespace,
    NamespaceContent,
    NamespaceUsage,
    Repository,
)
from dockyard.metadata.queries._insert import insert_ignore
from dockyard.metadata.session import prepared
from dockyard.oci.mediatypes import is_foreign

#: Digests per IN list (SQLite's bound-parameter limit is far above; PostgreSQL's too).
CHUNK = 500
#: Reference kinds whose bytes are blobs in the store (an index's children are manifests,
#: counted as themselves).
BLOB_KINDS = ("config", "layer")

_USAGE: Table = NamespaceUsage.__table__  # type: ignore[assignment]
_CONTENT: Table = NamespaceContent.__table__  # type: ignore[assignment]
_REPOSITORIES: Table = Repository.__table__  # type: ignore[assignment]
_LOCK_USAGE = prepared(
    select(_USAGE.c.logical_bytes, _USAGE.c.unique_bytes, _USAGE.c.quota_bytes)
    .where(_USAGE.c.namespace_id == bindparam("namespace_id"))
    .with_for_update()
)
_LOCK_BY_REPOSITORY = prepared(
    select(_USAGE.c.namespace_id, _USAGE.c.unique_bytes, _USAGE.c.quota_bytes)
    .select_from(_REPOSITORIES.join(_USAGE, _USAGE.c.namespace_id == _REPOSITORIES.c.namespace_id))
    .where(_REPOSITORIES.c.id == bindparam("repository_id"))
    .with_for_update(of=_USAGE)
)
_NAMESPACE_OF_REPOSITORY = prepared(
    select(_REPOSITORIES.c.namespace_id).where(_REPOSITORIES.c.id == bindparam("repository_id"))
)
_ADD_TO_USAGE = prepared(
    update(_USAGE)
    .where(_USAGE.c.namespace_id == bindparam("namespace"))
    .values(
        logical_bytes=_USAGE.c.logical_bytes + bindparam("logical"),
        unique_bytes=_USAGE.c.unique_bytes + bindparam("unique"),
    )
)


@dataclass(frozen=True, slots=True)
class Charge:
    """A push's effect on its namespace, counted under the namespace lock."""

    #: Deduplicated bytes before the push, and what it added (content new to the namespace).
    unique_before: int
    added: int
    quota: int | None

    @property
    def exceeds(self) -> bool:
        """It adds bytes and the namespace would then hold more than its quota."""
        return (
            self.quota is not None
            and self.added > 0
            and self.unique_before + self.added > self.quota
        )


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])


async def namespace_of_repository(session: AsyncSession, repository_id: uuid.UUID) -> uuid.UUID:
    params = {"repository_id": repository_id}
    found: uuid.UUID = (await session.execute(_NAMESPACE_OF_REPOSITORY, params)).scalar_one()
    return found


async def lock_namespace(
    session: AsyncSession, namespace_id: uuid.UUID
) -> tuple[int, int, int | None]:
    """(logical, deduplicated, quota) of the namespace, its usage row locked until the end
    of the transaction (created empty on first use)."""
    await insert_ignore(session, NamespaceUsage, namespace_id=namespace_id)
    row = (await session.execute(_LOCK_USAGE, {"namespace_id": namespace_id})).one()
    return int(row[0]), int(row[1]), None if row[2] is None else int(row[2])


async def charge_manifest(
    session: AsyncSession, repository_id: uuid.UUID, logical: int, content: Mapping[str, int]
) -> Charge:
    """Count a new manifest of the repository: ``logical`` bytes as pushed, and ``content``
    (digest → size of the manifest itself and each stored blob it names, each once).

    Three statements whatever the namespace holds: lock the namespace's usage row (found
    through the repository), add one to each digest's manifest count (an upsert returning
    the new counts: a count of 1 is a digest new to the namespace), add to the totals."""
    locked = (await session.execute(_LOCK_BY_REPOSITORY, {"repository_id": repository_id})).first()
    if locked is None:  # the namespace's first manifest: make its row, then lock it
        namespace_id = await namespace_of_repository(session, repository_id)
        _, unique, quota = await lock_namespace(session, namespace_id)
    else:
        namespace_id, unique, quota = locked[0], int(locked[1]), locked[2]
    rows = [
        {"namespace_id": namespace_id, "digest": digest, "size": size, "manifests": 1}
        for digest, size in sorted(content.items())
    ]
    counted = await session.execute(_count_up(session), rows)
    added = sum(int(size) for _, size, manifests in counted if manifests == 1)
    params = {"namespace": namespace_id, "logical": logical, "unique": added}
    await session.execute(_ADD_TO_USAGE, params)
    return Charge(unique, added, None if quota is None else int(quota))


_COUNT_UP: dict[str, Any] = {}


def _count_up(session: AsyncSession) -> Any:
    """INSERT … ON CONFLICT DO UPDATE manifests + 1 RETURNING (digest, size, manifests),
    built once per dialect; executed with one parameter set per digest."""
    dialect = session.get_bind().dialect.name
    stmt = _COUNT_UP.get(dialect)
    if stmt is None:
        module = postgresql if dialect == "postgresql" else sqlite
        upsert = module.insert(_CONTENT)
        stmt = _COUNT_UP[dialect] = upsert.on_conflict_do_update(
            index_elements=[_CONTENT.c.namespace_id, _CONTENT.c.digest],
            set_={"manifests": _CONTENT.c.manifests + 1},
        ).returning(_CONTENT.c.digest, _CONTENT.c.size, _CONTENT.c.manifests)
    return stmt


async def release_manifests(session: AsyncSession, manifest_ids: Sequence[uuid.UUID]) -> None:
    """Uncount manifests about to be deleted (call before deleting them)."""
    for start in range(0, len(manifest_ids), CHUNK):
        await _release(session, Manifest.id.in_(list(manifest_ids[start : start + CHUNK])))


async def release_repository(session: AsyncSession, repository_id: uuid.UUID) -> None:
    """Uncount every manifest of a repository about to be deleted."""
    await _release(session, Manifest.repository_id == repository_id)


async def _release(session: AsyncSession, which: Any) -> None:
    """Uncount the manifests ``which`` selects. They are read locked (``FOR UPDATE``; the
    callers that delete single manifests hold those locks already): a concurrent delete of
    one of them either committed before, and it is not read, or waits, so no manifest is
    uncounted twice."""
    own = (
        select(Repository.namespace_id, Manifest.id, Manifest.digest, Manifest.size)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(which)
        .with_for_update(of=Manifest)
    )
    logical: Counter[uuid.UUID] = Counter()
    #: manifest → the digests it holds (itself, its stored blobs), each once
    holders: dict[uuid.UUID, set[str]] = defaultdict(set)
    namespace_of: dict[uuid.UUID, uuid.UUID] = {}
    for namespace_id, manifest_id, digest, size in await session.execute(own):
        logical[namespace_id] += int(size)
        holders[manifest_id].add(digest)
        namespace_of[manifest_id] = namespace_id
    if not namespace_of:
        return
    edges = (
        select(
            ManifestReference.manifest_id, ManifestReference.digest, ManifestReference.media_type
        )
        .join(Manifest, Manifest.id == ManifestReference.manifest_id)
        .where(which, ManifestReference.kind.in_(BLOB_KINDS))
    )
    for manifest_id, digest, media_type in await session.execute(edges):
        if not is_foreign(media_type):
            holders[manifest_id].add(digest)
    # per namespace: digest → how many of the deleted manifests held it
    counts: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    for manifest_id, held in holders.items():
        counts[namespace_of[manifest_id]].update(held)
    for namespace_id in sorted(counts, key=str):
        await lock_namespace(session, namespace_id)
        freed = await _uncount(session, namespace_id, counts[namespace_id])
        params = {"namespace": namespace_id, "logical": -logical[namespace_id], "unique": -freed}
        await session.execute(_ADD_TO_USAGE, params)


async def _uncount(session: AsyncSession, namespace_id: uuid.UUID, counts: Counter[str]) -> int:
    """Lower each digest's manifest count; drop those no manifest holds any more; the bytes
    that left the deduplicated figure."""
    by_count: dict[int, list[str]] = defaultdict(list)
    for digest, n in counts.items():
        by_count[n].append(digest)
    for n, digests in sorted(by_count.items()):
        for chunk in _chunks(sorted(digests)):
            await session.execute(
                update(NamespaceContent)
                .where(NamespaceContent.namespace_id == namespace_id)
                .where(NamespaceContent.digest.in_(chunk))
                .values(manifests=NamespaceContent.manifests - n)
            )
    freed = 0
    for chunk in _chunks(sorted(counts)):
        gone = (
            NamespaceContent.namespace_id == namespace_id,
            NamespaceContent.digest.in_(chunk),
            NamespaceContent.manifests <= 0,
        )
        size = select(func.coalesce(func.sum(NamespaceContent.size), 0)).where(*gone)
        freed += int((await session.execute(size)).scalar_one())
        await session.execute(delete(NamespaceContent).where(*gone))
    return freed


async def set_quota(session: AsyncSession, namespace_id: uuid.UUID, quota: int | None) -> None:
    await lock_namespace(session, namespace_id)
    await session.execute(
        update(NamespaceUsage)
        .where(NamespaceUsage.namespace_id == namespace_id)
        .values(quota_bytes=quota)
    )


# ---- reads ----------------------------------------------------------------------------------


async def namespace_figures(
    session: AsyncSession, namespace_id: uuid.UUID
) -> tuple[int, int, int | None]:
    """(logical, deduplicated, quota) as committed; a namespace never pushed to: 0, 0, None."""
    stmt = select(
        NamespaceUsage.logical_bytes, NamespaceUsage.unique_bytes, NamespaceUsage.quota_bytes
    ).where(NamespaceUsage.namespace_id == namespace_id)
    row = (await session.execute(stmt)).one_or_none()
    return (0, 0, None) if row is None else (int(row[0]), int(row[1]), row[2])


async def namespace_page(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[list[tuple[str, int, int, int | None]], int]:
    """(name, logical, deduplicated, quota) of a page of the instance's namespaces by name,
    and how many it has."""
    total = (
        await session.execute(
            select(func.count()).select_from(Namespace).where(Namespace.instance_id == instance_id)
        )
    ).scalar_one()
    stmt = (
        select(
            Namespace.name,
            func.coalesce(NamespaceUsage.logical_bytes, 0),
            func.coalesce(NamespaceUsage.unique_bytes, 0),
            NamespaceUsage.quota_bytes,
        )
        .outerjoin(NamespaceUsage, NamespaceUsage.namespace_id == Namespace.id)
        .where(Namespace.instance_id == instance_id)
        .order_by(Namespace.name)
        .offset(offset)
        .limit(limit)
    )
    rows = [(r[0], int(r[1]), int(r[2]), r[3]) for r in await session.execute(stmt)]
    return rows, int(total)


async def instance_figures(session: AsyncSession, instance_id: str) -> tuple[int, int]:
    """(logical, deduplicated) of the instance: each digest once across its namespaces."""
    logical = (
        await session.execute(
            select(func.coalesce(func.sum(NamespaceUsage.logical_bytes), 0))
            .join(Namespace, Namespace.id == NamespaceUsage.namespace_id)
            .where(Namespace.instance_id == instance_id)
        )
    ).scalar_one()
    per_digest = (
        select(func.max(NamespaceContent.size).label("size"))
        .join(Namespace, Namespace.id == NamespaceContent.namespace_id)
        .where(Namespace.instance_id == instance_id)
        .group_by(NamespaceContent.digest)
        .subquery()
    )
    unique = (
        await session.execute(select(func.coalesce(func.sum(per_digest.c.size), 0)))
    ).scalar_one()
    return int(logical), int(unique)


async def repository_figures(
    session: AsyncSession, repository_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int, int]]:
    """repository id → (logical, deduplicated within it, manifests), read from its manifests
    and their references (bounded by the repositories asked for)."""
    if not repository_ids:
        return {}
    ids = list(repository_ids)
    figures = {id_: [0, 0, 0] for id_ in ids}
    own = (
        select(
            Manifest.repository_id,
            func.sum(Manifest.size),
            func.sum(func.length(Manifest.content)),
            func.count(),
        )
        .where(Manifest.repository_id.in_(ids))
        .group_by(Manifest.repository_id)
    )
    for repository_id, logical, bodies, count in await session.execute(own):
        figures[repository_id] = [int(logical), int(bodies), int(count)]
    blobs = (
        select(
            Manifest.repository_id,
            ManifestReference.digest,
            ManifestReference.size,
            ManifestReference.media_type,
        )
        .join(Manifest, Manifest.id == ManifestReference.manifest_id)
        .where(Manifest.repository_id.in_(ids), ManifestReference.kind.in_(BLOB_KINDS))
        .distinct()
    )
    seen: set[tuple[uuid.UUID, str]] = set()
    for repository_id, digest, size, media_type in await session.execute(blobs):
        if (repository_id, digest) not in seen and not is_foreign(media_type):
            seen.add((repository_id, digest))
            figures[repository_id][1] += int(size)
    return {id_: (f[0], f[1], f[2]) for id_, f in figures.items()}


async def repositories_of_namespace(
    session: AsyncSession, namespace_id: uuid.UUID, offset: int, limit: int
) -> tuple[list[tuple[uuid.UUID, str]], int]:
    """(id, name) of a page of the namespace's repositories by name, and how many it has."""
    where = Repository.namespace_id == namespace_id
    total = (
        await session.execute(select(func.count()).select_from(Repository).where(where))
    ).scalar_one()
    stmt = (
        select(Repository.id, Repository.name)
        .where(where)
        .order_by(Repository.name)
        .offset(offset)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in await session.execute(stmt)], int(total)


async def content_summary(session: AsyncSession, namespace_id: uuid.UUID) -> tuple[int, int, int]:
    """(distinct digests, digests held by more than one manifest, their bytes)."""
    shared = NamespaceContent.manifests > 1
    stmt = select(
        func.count(),
        func.coalesce(func.sum(case((shared, 1), else_=0)), 0),
        func.coalesce(func.sum(case((shared, NamespaceContent.size), else_=0)), 0),
    ).where(NamespaceContent.namespace_id == namespace_id)
    row = (await session.execute(stmt)).one()
    return int(row[0]), int(row[1]), int(row[2])


async def largest_shared(
    session: AsyncSession, namespace_id: uuid.UUID, limit: int
) -> list[tuple[str, int, int, list[str]]]:
    """(digest, size, manifests holding it, repositories holding it) of the namespace's
    largest digests held by more than one manifest."""
    stmt = (
        select(NamespaceContent.digest, NamespaceContent.size, NamespaceContent.manifests)
        .where(NamespaceContent.namespace_id == namespace_id, NamespaceContent.manifests > 1)
        .order_by(NamespaceContent.size.desc(), NamespaceContent.digest)
        .limit(limit)
    )
    rows = [(r[0], int(r[1]), int(r[2])) for r in await session.execute(stmt)]
    digests = [r[0] for r in rows]
    where_repo = Repository.namespace_id == namespace_id
    names: dict[str, set[str]] = defaultdict(set)
    if digests:
        as_blob = (
            select(ManifestReference.digest, Repository.name)
            .join(Manifest, Manifest.id == ManifestReference.manifest_id)
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(where_repo, ManifestReference.digest.in_(digests))
            .distinct()
        )
        as_manifest = (
            select(Manifest.digest, Repository.name)
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(where_repo, Manifest.digest.in_(digests))
            .distinct()
        )
        for stmt_ in (as_blob, as_manifest):
            for digest, name in await session.execute(stmt_):
                names[digest].add(name)
    return [(d, s, m, sorted(names[d])) for d, s, m in rows]


async def upload_quota_state(
    session: AsyncSession, repository_id: uuid.UUID, digest: str
) -> tuple[int, int | None, bool]:
    """(deduplicated bytes, quota, whether the namespace already holds ``digest``) of the
    repository's namespace, in one statement (every blob upload asks)."""
    row = (
        await session.execute(
            _UPLOAD_QUOTA_STATE, {"repository_id": repository_id, "digest": digest}
        )
    ).one_or_none()
    if row is None:
        return 0, None, False
    return int(row[0]), None if row[1] is None else int(row[1]), bool(row[2])


_UPLOAD_QUOTA_STATE = prepared(
    select(
        _USAGE.c.unique_bytes,
        _USAGE.c.quota_bytes,
        select(_CONTENT.c.digest)
        .where(
            _CONTENT.c.namespace_id == _USAGE.c.namespace_id,
            _CONTENT.c.digest == bindparam("digest"),
        )
        .exists(),
    )
    .select_from(_REPOSITORIES.join(_USAGE, _USAGE.c.namespace_id == _REPOSITORIES.c.namespace_id))
    .where(_REPOSITORIES.c.id == bindparam("repository_id"))
)


async def recount_namespace(session: AsyncSession, namespace_id: uuid.UUID) -> None:
    """Count the namespace again from its manifests and references, under its lock: for
    rows written without the push path (bulk seeding). The same rules as the migration's
    backfill and the push and delete paths."""
    await lock_namespace(session, namespace_id)
    in_namespace = Repository.namespace_id == namespace_id
    own = (
        select(
            Manifest.id.label("manifest_id"),
            Manifest.digest.label("digest"),
            func.length(Manifest.content).label("size"),
        )
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(in_namespace)
    )
    blobs = (
        select(ManifestReference.manifest_id, ManifestReference.digest, ManifestReference.size)
        .join(Manifest, Manifest.id == ManifestReference.manifest_id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(
            in_namespace,
            ManifestReference.kind.in_(BLOB_KINDS),
            ManifestReference.media_type.not_like("%foreign%"),
            ManifestReference.media_type.not_like("%nondistributable%"),
        )
    )
    held = union(own, blobs).subquery()
    per_digest = select(
        literal(namespace_id, NamespaceContent.namespace_id.type),
        held.c.digest,
        func.max(held.c.size),
        func.count(),
    ).group_by(held.c.digest)
    await session.execute(
        delete(NamespaceContent).where(NamespaceContent.namespace_id == namespace_id)
    )
    await session.execute(
        insert(NamespaceContent).from_select(
            ["namespace_id", "digest", "size", "manifests"], per_digest
        )
    )
    logical = (
        select(func.coalesce(func.sum(Manifest.size), 0))
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(in_namespace)
        .scalar_subquery()
    )
    unique = (
        select(func.coalesce(func.sum(NamespaceContent.size), 0))
        .where(NamespaceContent.namespace_id == namespace_id)
        .scalar_subquery()
    )
    await session.execute(
        update(NamespaceUsage)
        .where(NamespaceUsage.namespace_id == namespace_id)
        .values(logical_bytes=logical, unique_bytes=unique)
    )
