"""Blobs, repository links, uploads, manifests, tags and referrers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.events import EventType
from dockyard.metadata.models import (
    Blob,
    Manifest,
    ManifestReference,
    MetadataOccurrence,
    OutboxEvent,
    RepositoryBlob,
    ScanPolicy,
    SignaturePolicy,
    Tag,
    Upload,
)
from dockyard.metadata.queries._insert import (
    insert_ignore,
    insert_row,
    insert_rows,
    insert_unless_present,
)
from dockyard.metadata.queries._rows import RowQuery
from dockyard.metadata.queries.tenancy import REPOSITORY_KEY, REPOSITORY_KEY_WHERE
from dockyard.metadata.queries.usage import release_manifests
from dockyard.metadata.session import Database, prepared

#: Rounds of "insert, else lock the existing row" before giving up on a pathological race.
RACE_RETRIES = 16


class RaceLostError(RuntimeError):
    """A row kept being created and deleted by other transactions while we tried to use it."""


async def find_linked_blob(
    session: AsyncSession, repository_id: uuid.UUID, digest: str
) -> Blob | None:
    stmt = (
        select(Blob)
        .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
        .where(RepositoryBlob.repository_id == repository_id, Blob.digest == digest)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_linked_blobs(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> set[str]:
    """The digests among ``digests`` that the repository links, their blob and link rows
    share-locked (PostgreSQL ``FOR SHARE``) until the transaction ends, so garbage collection
    (which locks a blob ``FOR UPDATE`` and then deletes its links) waits for the manifest
    that names it, or unlinks first and this finds the blob gone."""
    wanted = set(digests)
    if len(wanted) <= FEW_DIGESTS:
        # One prepared lookup each: cheaper than compiling an IN list for a small image.
        found = set()
        for digest in wanted:
            params = {"repository_id": repository_id, "digest": digest}
            if (await session.execute(_LINKED_DIGEST, params)).first() is not None:
                found.add(digest)
        return found
    stmt = (
        select(Blob.digest)
        .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
        .where(RepositoryBlob.repository_id == repository_id, Blob.digest.in_(wanted))
        .with_for_update(read=True, of=[Blob, RepositoryBlob])
    )
    return set((await session.execute(stmt)).scalars().all())


async def link_blob(
    session: AsyncSession, repository_id: uuid.UUID, digest: str, size: int
) -> tuple[bool, bool]:
    """Record the blob (once) and link it to the repository: (newly linked, bytes unproved).

    The blob row is claimed first (``claim_blob``): when the row is new, or was condemned
    by garbage collection, the caller must prove the bytes are still in the store before
    committing (a GC may have deleted them between the caller's storage commit and now).
    """
    blob_id, unproved = await claim_blob(session, digest, size)
    linked = await insert_ignore(
        session, RepositoryBlob, repository_id=repository_id, blob_id=blob_id
    )
    return linked, unproved


async def claim_blob(session: AsyncSession, digest: str, size: int) -> tuple[uuid.UUID, bool]:
    """The blob row's id, the row inserted when absent or locked (``FOR UPDATE``) when
    present and its condemnation lifted; and whether the bytes are unproved (a new row or a
    condemned one). GC deletes a blob's row and bytes while holding the same row lock, so a
    claim either waits and then finds no row (and inserts one), or GC finds it pardoned."""
    for _ in range(RACE_RETRIES):
        new = await insert_unless_present(session, Blob, digest=digest, size=size)
        if new is not None:
            return cast(uuid.UUID, new["id"]), True
        row = (await session.execute(_BLOB_LOCKED, {"digest": digest})).first()
        if row is None:
            continue  # deleted by garbage collection after our insert collided with it
        if row[1] is not None:
            await session.execute(_PARDON_BLOB, {"blob_id": row[0]})
        return row[0], row[1] is not None
    raise RaceLostError(f"blob {digest} kept disappearing while being linked")


async def pardon_linked_blob(session: AsyncSession, repository_id: uuid.UUID, digest: str) -> bool:
    """Lift GC's condemnation of a blob a client just saw (HEAD/GET): its manifest may
    follow. False when the blob is no longer linked to the repository (GC took it first)."""
    await session.execute(_PARDON_BLOB_BY_DIGEST, {"seen_digest": digest})
    params = {"repository_id": repository_id, "digest": digest}
    return (await session.execute(_LINKED_DIGEST, params)).first() is not None


async def unlink_blob(session: AsyncSession, repository_id: uuid.UUID, digest: str) -> bool:
    blob_id = (
        await session.execute(select(Blob.id).where(Blob.digest == digest))
    ).scalar_one_or_none()
    if blob_id is None:
        return False
    result = await session.execute(
        delete(RepositoryBlob).where(
            RepositoryBlob.repository_id == repository_id, RepositoryBlob.blob_id == blob_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_upload(
    session: AsyncSession, repository_id: uuid.UUID, storage_key: str, expires_at: datetime
) -> uuid.UUID:
    row = await insert_row(
        session, Upload, repository_id=repository_id, storage_key=storage_key, expires_at=expires_at
    )
    return cast(uuid.UUID, row["id"])


async def upload_of_repository(
    db: Database, repository_id: uuid.UUID, upload_id: uuid.UUID
) -> tuple[str, datetime] | None:
    """(storage key, expiry) of an upload session of the repository: one statement."""
    row = await _Q_UPLOAD_OF_REPOSITORY.first(
        db, {"upload_id": upload_id, "repository_id": repository_id}
    )
    return (row[0], row[1]) if row else None


async def delete_upload(session: AsyncSession, upload_id: uuid.UUID) -> bool:
    result = await session.execute(_DELETE_UPLOAD, {"upload_id": upload_id})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def expired_uploads(
    session: AsyncSession, now: datetime, limit: int = 500
) -> Sequence[Upload]:
    """Expired sessions, locked; on PostgreSQL rows another node is purging are skipped."""
    stmt = (
        select(Upload).where(Upload.expires_at < now).limit(limit).with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def any_expired_upload(session: AsyncSession, now: datetime) -> bool:
    stmt = select(Upload.id).where(Upload.expires_at < now).limit(1)
    return (await session.execute(stmt)).first() is not None


async def all_upload_keys(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(Upload.storage_key))).scalars().all())


async def find_manifest(
    session: AsyncSession, repository_id: uuid.UUID, digest: str, *, lock: bool = False
) -> Manifest | None:
    """The manifest; ``lock`` holds it ``FOR UPDATE`` (PostgreSQL) until the transaction ends.

    A delete locks before it reads the manifest's tags, so a concurrent push that tags the
    manifest either finishes first (and its tag is deleted and reported too) or waits.
    """
    stmt = select(Manifest).where(
        Manifest.repository_id == repository_id, Manifest.digest == digest
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_manifest_by_tag(
    session: AsyncSession, repository_id: uuid.UUID, tag: str
) -> Manifest | None:
    stmt = (
        select(Manifest)
        .join(Tag, Tag.manifest_id == Manifest.id)
        .where(Tag.repository_id == repository_id, Tag.name == tag)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def manifest_types(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> dict[str, tuple[str, str | None]]:
    """digest → (media type, artifact type) of those of ``digests`` the repository holds:
    an index's children, proved present and classified in one statement, and share-locked
    (PostgreSQL) so garbage collection cannot delete a child under the index being pushed."""
    if not digests:
        return {}
    stmt = (
        select(Manifest.digest, Manifest.media_type, Manifest.artifact_type)
        .where(Manifest.repository_id == repository_id, Manifest.digest.in_(set(digests)))
        .with_for_update(read=True)
    )
    return {row[0]: (row[1], row[2]) for row in await session.execute(stmt)}


async def insert_manifest(
    session: AsyncSession, manifest: dict[str, Any], references: Sequence[dict[str, Any]]
) -> tuple[uuid.UUID, bool]:
    """Insert unless the same digest is already in the repository; returns (id, created).

    ``manifest`` holds the row's values with its new ``id``; ``references`` its edges.
    An existing row is share-locked (PostgreSQL ``FOR SHARE``) until the transaction ends,
    so a concurrent delete waits for the tag this push may point at it; when a delete
    committed between our insert attempt and the read, the insert is tried again.
    """
    for _ in range(RACE_RETRIES):
        if await insert_ignore(session, Manifest, **manifest):
            if references:
                await insert_rows(session, ManifestReference, references)
            return manifest["id"], True
        params = {"repository_id": manifest["repository_id"], "digest": manifest["digest"]}
        existing = (await session.execute(_MANIFEST_ID_SHARED, params)).scalar_one_or_none()
        if existing is not None:
            return existing, False
        # deleted by another transaction after our insert collided with it: try again
    raise RaceLostError(f"manifest {manifest['digest']} kept disappearing while being pushed")


async def find_tag(session: AsyncSession, repository_id: uuid.UUID, name: str) -> Tag | None:
    stmt = select(Tag).where(Tag.repository_id == repository_id, Tag.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def point_tag(
    session: AsyncSession,
    repository_id: uuid.UUID,
    name: str,
    manifest_id: uuid.UUID,
    now: datetime,
    *,
    keep_existing: bool = False,
) -> str | None:
    """Create or move a tag; returns the digest it pointed to before (None if new).

    The tag row is locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write
    transactions are exclusive) before its target is read, so concurrent moves of one tag
    queue and each sees the previous move's result: their ``previous`` digests chain and
    exactly one of them is last. With ``keep_existing`` a tag pointing elsewhere is left
    as it is (immutable tags); the caller compares the digest returned.
    """
    for _ in range(RACE_RETRIES):
        params = {"repository_id": repository_id, "name": name}
        current = (await session.execute(_TAG_LOCKED, params)).one_or_none()
        if current is None:
            inserted = await insert_ignore(
                session,
                Tag,
                repository_id=repository_id,
                name=name,
                manifest_id=manifest_id,
                created_at=now,
                updated_at=now,
            )
            if inserted:
                return None
            continue  # created by another transaction meanwhile: lock and read that one
        tag_id, current_manifest = current
        previous = (
            await session.execute(_MANIFEST_DIGEST_BY_ID, {"manifest_id": current_manifest})
        ).scalar_one()
        if current_manifest != manifest_id and not keep_existing:
            await session.execute(
                _MOVE_TAG, {"tag_id": tag_id, "manifest_id": manifest_id, "updated_at": now}
            )
        return cast(str, previous)
    raise RaceLostError(f"tag {name} kept changing while being pointed")


async def delete_tag(session: AsyncSession, repository_id: uuid.UUID, name: str) -> bool:
    result = await session.execute(
        delete(Tag).where(Tag.repository_id == repository_id, Tag.name == name)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def tags_of_manifest(session: AsyncSession, manifest_id: uuid.UUID) -> Sequence[str]:
    return (
        (await session.execute(select(Tag.name).where(Tag.manifest_id == manifest_id)))
        .scalars()
        .all()
    )


async def delete_manifest(session: AsyncSession, manifest_id: uuid.UUID) -> None:
    """The manifest (locked by the caller), its tags and edges; uncounted from usage after
    its tags are deleted, so the namespace's lock is the last lock taken (a push waiting
    for it may hold one of those tags)."""
    await session.execute(delete(Tag).where(Tag.manifest_id == manifest_id))
    await delete_occurrences_of(session, [manifest_id])
    await release_manifests(session, [manifest_id])
    await session.execute(
        delete(ManifestReference).where(ManifestReference.manifest_id == manifest_id)
    )
    await session.execute(delete(Manifest).where(Manifest.id == manifest_id))


async def delete_occurrences_of(session: AsyncSession, manifest_ids: Sequence[uuid.UUID]) -> None:
    """The metadata occurrences over these manifests go with them: an occurrence is
    stored with its image (repository and digest); the same digest in another repository
    has occurrences of its own."""
    signed_here = exists().where(
        Manifest.id.in_(manifest_ids),
        Manifest.repository_id == MetadataOccurrence.repository_id,
        Manifest.digest == MetadataOccurrence.digest,
    )
    await session.execute(delete(MetadataOccurrence).where(signed_here))


async def tag_pointers(
    session: AsyncSession, repository_id: uuid.UUID
) -> Sequence[tuple[str, str, datetime]]:
    """(name, digest, updated_at) of every tag of the repository, in name order."""
    stmt = (
        select(Tag.name, Manifest.digest, Tag.updated_at)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository_id)
        .order_by(Tag.name)
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(stmt)]


async def lock_tags(
    session: AsyncSession, repository_id: uuid.UUID, names: Sequence[str]
) -> list[tuple[uuid.UUID, str, uuid.UUID, str]]:
    """(tag id, name, manifest id, digest) of those of ``names`` the repository has, each
    tag row locked (``FOR UPDATE`` on PostgreSQL) so a concurrent move waits for the
    caller's transaction, as it waits for another move (``point_tag``)."""
    if not names:
        return []
    stmt = (
        select(Tag.id, Tag.name, Manifest.id, Manifest.digest)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository_id, Tag.name.in_(list(names)))
        .with_for_update(of=Tag)
    )
    return [(row[0], row[1], row[2], row[3]) for row in await session.execute(stmt)]


async def delete_tags(session: AsyncSession, tag_ids: Sequence[uuid.UUID]) -> None:
    if tag_ids:
        await session.execute(delete(Tag).where(Tag.id.in_(list(tag_ids))))


async def lock_unreferenced_manifests(
    session: AsyncSession, repository_id: uuid.UUID, manifest_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str]]:
    """(id, digest) of those of ``manifest_ids`` that nothing keeps: no tag, no index of the
    repository, and (for a referrer) no subject still in it. They are locked first
    (``FOR UPDATE``): a push tagging one meanwhile either committed and is seen, or waits
    (it share-locks an existing manifest, ``insert_manifest``)."""
    if not manifest_ids:
        return []
    locked = select(Manifest.id, Manifest.digest, Manifest.subject_digest).where(
        Manifest.id.in_(list(manifest_ids))
    )
    rows = list(await session.execute(locked.with_for_update()))
    tagged = set(
        (
            await session.execute(
                select(Tag.manifest_id).where(Tag.manifest_id.in_([row[0] for row in rows]))
            )
        ).scalars()
    )
    digests = [row[1] for row in rows]
    in_index = set(
        (
            await session.execute(
                select(ManifestReference.digest)
                .join(Manifest, Manifest.id == ManifestReference.manifest_id)
                .where(
                    Manifest.repository_id == repository_id,
                    ManifestReference.kind == "manifest",
                    ManifestReference.digest.in_(digests),
                )
            )
        ).scalars()
    )
    subjects = [row[2] for row in rows if row[2] is not None]
    present: set[str] = set()
    if subjects:
        stmt = select(Manifest.digest).where(
            Manifest.repository_id == repository_id, Manifest.digest.in_(subjects)
        )
        present = set((await session.execute(stmt)).scalars())
    return [
        (row[0], row[1])
        for row in rows
        if row[0] not in tagged and row[1] not in in_index and row[2] not in present
    ]


async def delete_manifests(session: AsyncSession, manifest_ids: Sequence[uuid.UUID]) -> None:
    """Delete untagged manifests and their reference edges (uncounted from usage first)."""
    if manifest_ids:
        ids = list(manifest_ids)
        await delete_occurrences_of(session, ids)
        await release_manifests(session, ids)
        await session.execute(
            delete(ManifestReference).where(ManifestReference.manifest_id.in_(ids))
        )
        await session.execute(delete(Manifest).where(Manifest.id.in_(ids)))


async def add_outbox_events(
    session: AsyncSession, instance_id: str, type_: EventType, payloads: Sequence[dict[str, object]]
) -> None:
    """Several events of one type in the caller's transaction, in one statement call."""
    if payloads:
        rows = [{"instance_id": instance_id, "type": type_, "payload": p} for p in payloads]
        await insert_rows(session, OutboxEvent, rows)


async def list_tags(
    session: AsyncSession, repository_id: uuid.UUID, last: str | None, limit: int | None
) -> Sequence[str]:
    stmt = select(Tag.name).where(Tag.repository_id == repository_id)
    if last:
        stmt = stmt.where(Tag.name > last)
    stmt = stmt.order_by(Tag.name)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def list_referrers(
    session: AsyncSession, repository_id: uuid.UUID, subject_digest: str, artifact_type: str | None
) -> Sequence[Manifest]:
    stmt = select(Manifest).where(
        Manifest.repository_id == repository_id, Manifest.subject_digest == subject_digest
    )
    if artifact_type is not None:
        stmt = stmt.where(Manifest.artifact_type == artifact_type)
    return (
        (await session.execute(stmt.order_by(Manifest.created_at, Manifest.digest))).scalars().all()
    )


async def count_tags(session: AsyncSession, repository_id: uuid.UUID) -> int:
    return (
        await session.execute(
            select(func.count()).select_from(Tag).where(Tag.repository_id == repository_id)
        )
    ).scalar_one()


async def add_outbox_event(
    session: AsyncSession, instance_id: str, type_: EventType, payload: dict[str, object]
) -> None:
    """Write a domain event in the caller's transaction (see ``dockyard.events``)."""
    await insert_row(session, OutboxEvent, instance_id=instance_id, type=type_, payload=payload)


async def list_tag_rows(
    session: AsyncSession, repository_id: uuid.UUID, offset: int, limit: int
) -> tuple[Sequence[tuple[Tag, Manifest]], int]:
    """A page of (tag, manifest) in tag-name order, and the number of tags."""
    total = await count_tags(session, repository_id)
    stmt = (
        select(Tag, Manifest)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository_id)
        .order_by(Tag.name)
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(stmt)).all(), total


async def manifests_by_digest(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> dict[str, Manifest]:
    if not digests:
        return {}
    stmt = select(Manifest).where(
        Manifest.repository_id == repository_id, Manifest.digest.in_(set(digests))
    )
    return {m.digest: m for m in (await session.execute(stmt)).scalars().all()}


# ---- hot reads: one Core statement per registry request, plain rows ----------------------
#
# A manifest GET/HEAD, blob HEAD/GET and tags list need the repository (id, type,
# mutability: authorization and the response depend on them) and one lookup inside it.
# Each is one statement built once at import with bind parameters: no ORM entities, no
# identity map, and SQLAlchemy's compiled cache hits on the same statement object. The
# repository is the driving row (its unique (instance_id, full_name) index); the lookup is
# a LEFT OUTER JOIN, so a row comes back whenever the repository exists, with NULLs when
# the tag, manifest or blob does not.

_repositories = REPOSITORY_KEY[0].table
_tags = Tag.__table__
_manifests = Manifest.__table__
_blobs = Blob.__table__
_links = RepositoryBlob.__table__

_signature_policies = SignaturePolicy.__table__
_scan_policies = ScanPolicy.__table__

#: Whether a signature policy over the repository or its namespace, and whether the
#: namespace's blocking scan policy, may refuse a pull: read with the manifest so that an
#: ungated GET pays no further statement, and a gate created a moment ago is never missed.
_SIGNATURE_GATED = (
    exists()
    .where(
        _signature_policies.c.instance_id == bindparam("instance_id"),
        or_(
            _signature_policies.c.namespace == bindparam("namespace"),
            _signature_policies.c.repository == bindparam("full_name"),
        ),
    )
    .label("signature_gated")
)
_SCAN_GATED = (
    exists()
    .where(
        _scan_policies.c.namespace_id == _repositories.c.namespace_id,
        or_(_scan_policies.c.block_severity.is_not(None), _scan_policies.c.block_unscanned),
    )
    .label("scan_gated")
)

_MANIFEST_COLUMNS = (_manifests.c.digest, _manifests.c.media_type, _manifests.c.content)

_MANIFEST_BY_TAG = (
    select(*REPOSITORY_KEY, *_MANIFEST_COLUMNS, _SIGNATURE_GATED, _SCAN_GATED)
    .select_from(
        _repositories.outerjoin(
            _tags,
            and_(_tags.c.repository_id == _repositories.c.id, _tags.c.name == bindparam("ref")),
        ).outerjoin(_manifests, _manifests.c.id == _tags.c.manifest_id)
    )
    .where(*REPOSITORY_KEY_WHERE)
)

_MANIFEST_BY_DIGEST = (
    select(*REPOSITORY_KEY, *_MANIFEST_COLUMNS, _SIGNATURE_GATED, _SCAN_GATED)
    .select_from(
        _repositories.outerjoin(
            _manifests,
            and_(
                _manifests.c.repository_id == _repositories.c.id,
                _manifests.c.digest == bindparam("ref"),
            ),
        )
    )
    .where(*REPOSITORY_KEY_WHERE)
)

_LINKED_BLOB_SIZE = (
    select(_blobs.c.size)
    .select_from(_blobs.join(_links, _links.c.blob_id == _blobs.c.id))
    .where(_links.c.repository_id == _repositories.c.id, _blobs.c.digest == bindparam("digest"))
    .correlate(_repositories)
    .scalar_subquery()
)

_LINKED_BLOB_CONDEMNED = (
    select(_blobs.c.condemned_at.is_not(None))
    .select_from(_blobs.join(_links, _links.c.blob_id == _blobs.c.id))
    .where(_links.c.repository_id == _repositories.c.id, _blobs.c.digest == bindparam("digest"))
    .correlate(_repositories)
    .scalar_subquery()
)

_BLOB_IN_REPOSITORY = select(*REPOSITORY_KEY, _LINKED_BLOB_SIZE, _LINKED_BLOB_CONDEMNED).where(
    *REPOSITORY_KEY_WHERE
)

# The tags page is driven by the tags index (repository_id, name), so both backends read
# the page in index order with no sort: the repository comes in as uncorrelated scalar
# subqueries (evaluated once). A LEFT JOIN from the repository would make PostgreSQL sort
# every tag of the repository for each page. No rows: no repository, or no tags after
# ``last`` — the caller then asks for the repository alone.
_TAG_PAGE = (
    select(
        *(
            select(column).where(*REPOSITORY_KEY_WHERE).scalar_subquery()
            for column in REPOSITORY_KEY
        ),
        _tags.c.name,
    )
    .where(
        _tags.c.repository_id
        == select(_repositories.c.id).where(*REPOSITORY_KEY_WHERE).scalar_subquery(),
        _tags.c.name > bindparam("last"),
    )
    .order_by(_tags.c.name)
    .limit(bindparam("limit"))
)

_MANIFEST_OF_REPOSITORY_BY_TAG = (
    select(*_MANIFEST_COLUMNS)
    .select_from(_tags.join(_manifests, _manifests.c.id == _tags.c.manifest_id))
    .where(_tags.c.repository_id == bindparam("repository_id"), _tags.c.name == bindparam("ref"))
)

_MANIFEST_OF_REPOSITORY_BY_DIGEST = select(*_MANIFEST_COLUMNS).where(
    _manifests.c.repository_id == bindparam("repository_id"),
    _manifests.c.digest == bindparam("ref"),
)

_LINKED_BLOB_SIZE_BY_ID = (
    select(_blobs.c.size, _blobs.c.condemned_at.is_not(None))
    .select_from(_blobs.join(_links, _links.c.blob_id == _blobs.c.id))
    .where(
        _links.c.repository_id == bindparam("repository_id"),
        _blobs.c.digest == bindparam("digest"),
    )
)

#: "All of them" as a LIMIT both backends accept (PostgreSQL refuses -1).
NO_LIMIT = 2**62


_UPLOADS: Table = Upload.__table__  # type: ignore[assignment]
_BLOBS: Table = Blob.__table__  # type: ignore[assignment]
_LINKS: Table = RepositoryBlob.__table__  # type: ignore[assignment]
_MANIFESTS: Table = Manifest.__table__  # type: ignore[assignment]
_TAGS: Table = Tag.__table__  # type: ignore[assignment]
#: Up to this many digests, a manifest's blob check runs one prepared lookup per digest.
FEW_DIGESTS = 8
_BLOB_LOCKED = prepared(
    select(_BLOBS.c.id, _BLOBS.c.condemned_at)
    .where(_BLOBS.c.digest == bindparam("digest"))
    .with_for_update()
)
_PARDON_BLOB = prepared(
    update(_BLOBS).where(_BLOBS.c.id == bindparam("blob_id")).values(condemned_at=None)
)
_PARDON_BLOB_BY_DIGEST = prepared(
    update(_BLOBS)
    .where(_BLOBS.c.digest == bindparam("seen_digest"), _BLOBS.c.condemned_at.is_not(None))
    .values(condemned_at=None)
)
_LINKED_DIGEST = prepared(
    select(_BLOBS.c.digest)
    .join(_LINKS, _LINKS.c.blob_id == _BLOBS.c.id)
    .where(
        _LINKS.c.repository_id == bindparam("repository_id"),
        _BLOBS.c.digest == bindparam("digest"),
    )
    .with_for_update(read=True, of=[_BLOBS, _LINKS])
)
_MANIFEST_ID_SHARED = prepared(
    select(_MANIFESTS.c.id)
    .where(
        _MANIFESTS.c.repository_id == bindparam("repository_id"),
        _MANIFESTS.c.digest == bindparam("digest"),
    )
    .with_for_update(read=True)
)
_MANIFEST_DIGEST_BY_ID = prepared(
    select(_MANIFESTS.c.digest).where(_MANIFESTS.c.id == bindparam("manifest_id"))
)
_TAG_LOCKED = prepared(
    select(_TAGS.c.id, _TAGS.c.manifest_id)
    .where(_TAGS.c.repository_id == bindparam("repository_id"), _TAGS.c.name == bindparam("name"))
    .with_for_update()
)
_MOVE_TAG = prepared(
    update(_TAGS)
    .where(_TAGS.c.id == bindparam("tag_id"))
    .values(manifest_id=bindparam("manifest_id"), updated_at=bindparam("updated_at"))
)
_DELETE_UPLOAD = prepared(delete(_UPLOADS).where(_UPLOADS.c.id == bindparam("upload_id")))
_Q_UPLOAD_OF_REPOSITORY = RowQuery(
    select(_UPLOADS.c.storage_key, _UPLOADS.c.expires_at).where(
        _UPLOADS.c.id == bindparam("upload_id"),
        _UPLOADS.c.repository_id == bindparam("repository_id"),
    )
)
_Q_MANIFEST_BY_TAG = RowQuery(_MANIFEST_BY_TAG)
_Q_MANIFEST_BY_DIGEST = RowQuery(_MANIFEST_BY_DIGEST)
_Q_BLOB_IN_REPOSITORY = RowQuery(_BLOB_IN_REPOSITORY)
_Q_TAG_PAGE = RowQuery(_TAG_PAGE)
_Q_MANIFEST_OF_REPOSITORY_BY_TAG = RowQuery(_MANIFEST_OF_REPOSITORY_BY_TAG)
_Q_MANIFEST_OF_REPOSITORY_BY_DIGEST = RowQuery(_MANIFEST_OF_REPOSITORY_BY_DIGEST)
_Q_LINKED_BLOB_SIZE = RowQuery(_LINKED_BLOB_SIZE_BY_ID)


async def manifest_in_repository(
    db: Database, instance_id: str, full_name: str, *, tag: str | None, digest: str | None
) -> tuple[uuid.UUID, str, str, str, str | None, str | None, bytes | None, bool, bool] | None:
    """(repository id, type, tag mutability, edition, manifest digest, media type, content,
    whether signature policies and a scan gate apply) by tag (or digest), in one statement;
    the manifest columns are None when the repository exists but the reference does not;
    None when the repository does not exist."""
    query = _Q_MANIFEST_BY_TAG if tag is not None else _Q_MANIFEST_BY_DIGEST
    params = {
        "instance_id": instance_id,
        "full_name": full_name,
        "namespace": full_name.split("/", 1)[0],
        "ref": tag or digest,
    }
    row = await query.first(db, params)
    if row is None:
        return None
    return (row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), bool(row[8]))


async def blob_in_repository(
    db: Database, instance_id: str, full_name: str, digest: str
) -> tuple[uuid.UUID, str, str, str, int | None, bool] | None:
    """The repository, the size of ``digest`` when linked to it (else None) and whether GC
    condemned the blob, in one statement."""
    params = {"instance_id": instance_id, "full_name": full_name, "digest": digest}
    row = await _Q_BLOB_IN_REPOSITORY.first(db, params)
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], bool(row[5]))


async def tag_page_in_repository(
    db: Database, instance_id: str, full_name: str, last: str | None, limit: int | None
) -> list[tuple[uuid.UUID, str, str, str, str]]:
    """A page of the repository's tag names after ``last``, each row with the repository's
    (id, type, tag mutability, edition), in one statement. No rows: no repository, or no more tags.
    """
    params = {
        "instance_id": instance_id,
        "full_name": full_name,
        "last": last or "",
        "limit": NO_LIMIT if limit is None else limit,
    }
    return [(r[0], r[1], r[2], r[3], r[4]) for r in await _Q_TAG_PAGE.all(db, params)]


async def manifest_columns(
    db: Database, repository_id: uuid.UUID, *, tag: str | None, digest: str | None
) -> tuple[str, str, bytes] | None:
    """(digest, media type, content) of a manifest by tag or digest, as a plain row."""
    query = (
        _Q_MANIFEST_OF_REPOSITORY_BY_TAG if tag is not None else _Q_MANIFEST_OF_REPOSITORY_BY_DIGEST
    )
    row = await query.first(db, {"repository_id": repository_id, "ref": tag or digest})
    return None if row is None else (row[0], row[1], row[2])


async def linked_blob_size(
    db: Database, repository_id: uuid.UUID, digest: str
) -> tuple[int, bool] | None:
    """The size of ``digest`` when it is linked to the repository, and whether GC
    condemned it; None when not linked."""
    row = await _Q_LINKED_BLOB_SIZE.first(db, {"repository_id": repository_id, "digest": digest})
    return None if row is None else (int(row[0]), bool(row[1]))


# ---- bulk seeding (services/content/bulk.py) -----------------------------------------------


async def insert_many(
    session: AsyncSession, table_name: str, rows: Sequence[dict[str, Any]]
) -> None:
    """One batched INSERT (``executemany``: multi-row VALUES on both backends) of ``rows``.

    Every row carries every column (ids and times included): nothing is left to per-row
    Python defaults. Only for tables of this module that bulk seeding fills.
    """
    if rows:
        await session.execute(insert(_BULK_TABLES[table_name]), list(rows))


async def blob_ids(session: AsyncSession, digests: Sequence[str]) -> dict[str, uuid.UUID]:
    stmt = select(_blobs.c.digest, _blobs.c.id).where(_blobs.c.digest.in_(set(digests)))
    return {digest: id_ for digest, id_ in (await session.execute(stmt)).all()}


_BULK_TABLES: dict[str, Table] = {
    model.__tablename__: cast(Table, model.__table__)
    for model in (Manifest, ManifestReference, Tag, RepositoryBlob)
}
