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
    stmt = select(Upload).where(Upload.expires_at < now).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def all_upload_keys(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(Upload.storage_key))).scalars().all())


async def find_manifest(
    session: AsyncSession, repository_id: uuid.UUID, digest: str
) -> Manifest | None:
    stmt = select(Manifest).where(
        Manifest.repository_id == repository_id, Manifest.digest == digest
    )
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
    """Insert unless the same digest is already in the repository; returns (row, created)."""
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
    row = await find_manifest(session, manifest.repository_id, manifest.digest)
    assert row is not None
    if created:
        session.add_all(references)
    return row, created


async def find_tag(session: AsyncSession, repository_id: uuid.UUID, name: str) -> Tag | None:
    stmt = select(Tag).where(Tag.repository_id == repository_id, Tag.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def point_tag(
    session: AsyncSession,
    repository_id: uuid.UUID,
    name: str,
    manifest_id: uuid.UUID,
    now: datetime,
) -> str | None:
    """Create or move a tag; returns the digest it pointed to before (None if new)."""
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
    tag = await find_tag(session, repository_id, name)
    assert tag is not None
    previous = (
        await session.execute(select(Manifest.digest).where(Manifest.id == tag.manifest_id))
    ).scalar_one()
    if tag.manifest_id != manifest_id:
        await session.execute(
            update(Tag).where(Tag.id == tag.id).values(manifest_id=manifest_id, updated_at=now)
        )
    return previous


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
