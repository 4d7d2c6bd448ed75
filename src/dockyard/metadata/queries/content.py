"""Blobs, repository links, uploads, manifests, tags and referrers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import (
    Blob,
    Manifest,
    ManifestReference,
    OutboxEvent,
    RepositoryBlob,
    Tag,
    Upload,
)
from dockyard.metadata.queries._insert import insert_ignore

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
    if not digests:
        return set()
    stmt = (
        select(Blob.digest)
        .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
        .where(RepositoryBlob.repository_id == repository_id, Blob.digest.in_(set(digests)))
    )
    return set((await session.execute(stmt)).scalars().all())


async def link_blob(
    session: AsyncSession, repository_id: uuid.UUID, digest: str, size: int
) -> bool:
    """Record the blob (once) and link it to the repository; True when newly linked."""
    await insert_ignore(session, Blob, digest=digest, size=size)
    blob_id = (await session.execute(select(Blob.id).where(Blob.digest == digest))).scalar_one()
    return await insert_ignore(
        session, RepositoryBlob, repository_id=repository_id, blob_id=blob_id
    )


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
) -> Upload:
    upload = Upload(repository_id=repository_id, storage_key=storage_key, expires_at=expires_at)
    session.add(upload)
    await session.flush()
    return upload


async def find_upload(
    session: AsyncSession, repository_id: uuid.UUID, upload_id: uuid.UUID
) -> Upload | None:
    stmt = select(Upload).where(Upload.id == upload_id, Upload.repository_id == repository_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_upload(session: AsyncSession, upload_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Upload).where(Upload.id == upload_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def expired_uploads(
    session: AsyncSession, now: datetime, limit: int = 500
) -> Sequence[Upload]:
    """Expired sessions, locked; on PostgreSQL rows another node is purging are skipped."""
    stmt = (
        select(Upload).where(Upload.expires_at < now).limit(limit).with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


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


async def existing_manifest_digests(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> set[str]:
    if not digests:
        return set()
    stmt = select(Manifest.digest).where(
        Manifest.repository_id == repository_id, Manifest.digest.in_(set(digests))
    )
    return set((await session.execute(stmt)).scalars().all())


async def insert_manifest(
    session: AsyncSession, manifest: Manifest, references: Sequence[ManifestReference]
) -> tuple[Manifest, bool]:
    """Insert unless the same digest is already in the repository; returns (row, created).

    An existing row is share-locked (PostgreSQL ``FOR SHARE``) until the transaction ends,
    so a concurrent delete waits for the tag this push may point at it; when a delete
    committed between our insert attempt and the read, the insert is tried again.
    """
    for _ in range(RACE_RETRIES):
        created = await insert_ignore(
            session,
            Manifest,
            id=manifest.id,
            repository_id=manifest.repository_id,
            digest=manifest.digest,
            media_type=manifest.media_type,
            artifact_type=manifest.artifact_type,
            subject_digest=manifest.subject_digest,
            size=manifest.size,
            content=manifest.content,
            annotations=manifest.annotations,
            pushed_by=manifest.pushed_by,
        )
        stmt = (
            select(Manifest)
            .where(
                Manifest.repository_id == manifest.repository_id,
                Manifest.digest == manifest.digest,
            )
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        row = (await session.execute(stmt)).scalar_one_or_none()
        if row is None:
            continue  # deleted by another transaction after our insert collided with it
        if created:
            session.add_all(references)
        return row, created
    raise RaceLostError(f"manifest {manifest.digest} kept disappearing while being pushed")


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
        stmt = (
            select(Tag.id, Tag.manifest_id)
            .where(Tag.repository_id == repository_id, Tag.name == name)
            .with_for_update()
        )
        current = (await session.execute(stmt)).one_or_none()
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
            await session.execute(select(Manifest.digest).where(Manifest.id == current_manifest))
        ).scalar_one()
        if current_manifest != manifest_id and not keep_existing:
            await session.execute(
                update(Tag).where(Tag.id == tag_id).values(manifest_id=manifest_id, updated_at=now)
            )
        return previous
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
    await session.execute(delete(Tag).where(Tag.manifest_id == manifest_id))
    await session.execute(
        delete(ManifestReference).where(ManifestReference.manifest_id == manifest_id)
    )
    await session.execute(delete(Manifest).where(Manifest.id == manifest_id))


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


def add_event(
    session: AsyncSession, instance_id: str, type_: str, payload: dict[str, object]
) -> None:
    session.add(OutboxEvent(instance_id=instance_id, type=type_, payload=payload))


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
    return (await session.execute(stmt)).tuples().all(), total


async def manifests_by_digest(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> dict[str, Manifest]:
    if not digests:
        return {}
    stmt = select(Manifest).where(
        Manifest.repository_id == repository_id, Manifest.digest.in_(set(digests))
    )
    return {m.digest: m for m in (await session.execute(stmt)).scalars().all()}
