"""Metadata namespaces, notes, occurrences and public keys (the signing service's rows)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.models import (
    Manifest,
    ManifestReference,
    MetadataNamespace,
    MetadataNote,
    MetadataOccurrence,
    MetadataPublicKey,
    SignaturePolicy,
    Tag,
)
from dockyard.metadata.queries._page import counted_page
from dockyard.metadata.session import Database


async def find_namespace(
    session: AsyncSession, instance_id: str, name: str
) -> MetadataNamespace | None:
    stmt = select(MetadataNamespace).where(
        MetadataNamespace.instance_id == instance_id, MetadataNamespace.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_namespaces(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[Sequence[MetadataNamespace], int]:
    conditions = [MetadataNamespace.instance_id == instance_id]
    return await counted_page(
        session, MetadataNamespace, conditions, (MetadataNamespace.name,), offset, limit
    )


async def namespace_is_empty(session: AsyncSession, namespace_id: uuid.UUID) -> bool:
    """No note, occurrence or public key left in it."""
    for model in (MetadataNote, MetadataOccurrence, MetadataPublicKey):
        stmt = select(func.count()).select_from(model).where(model.namespace_id == namespace_id)
        if (await session.execute(stmt)).scalar_one():
            return False
    return True


async def delete_namespace(session: AsyncSession, namespace_id: uuid.UUID) -> None:
    await session.execute(delete(MetadataNamespace).where(MetadataNamespace.id == namespace_id))


async def find_note(
    session: AsyncSession, namespace_id: uuid.UUID, name: str
) -> MetadataNote | None:
    stmt = select(MetadataNote).where(
        MetadataNote.namespace_id == namespace_id, MetadataNote.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_notes(
    session: AsyncSession, namespace_id: uuid.UUID, offset: int, limit: int
) -> tuple[Sequence[MetadataNote], int]:
    conditions = [MetadataNote.namespace_id == namespace_id]
    return await counted_page(
        session, MetadataNote, conditions, (MetadataNote.name,), offset, limit
    )


async def note_names(
    session: AsyncSession, note_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not note_ids:
        return {}
    stmt = select(MetadataNote.id, MetadataNote.name).where(MetadataNote.id.in_(list(note_ids)))
    return {row[0]: row[1] for row in await session.execute(stmt)}


async def note_in_use(session: AsyncSession, note_id: uuid.UUID) -> bool:
    stmt = select(MetadataOccurrence.id).where(MetadataOccurrence.note_id == note_id).limit(1)
    return (await session.execute(stmt)).first() is not None


async def delete_note(session: AsyncSession, note_id: uuid.UUID) -> None:
    await session.execute(delete(MetadataNote).where(MetadataNote.id == note_id))


async def find_occurrence(
    session: AsyncSession, namespace_id: uuid.UUID, name: str
) -> MetadataOccurrence | None:
    stmt = select(MetadataOccurrence).where(
        MetadataOccurrence.namespace_id == namespace_id, MetadataOccurrence.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_occurrences(
    session: AsyncSession,
    namespace_id: uuid.UUID,
    note_id: uuid.UUID | None,
    resource_uris: Sequence[str],
    offset: int,
    limit: int,
) -> tuple[Sequence[MetadataOccurrence], int]:
    """A page of the namespace's occurrences, oldest first, of ``note_id`` (when given)
    over any of ``resource_uris`` (when any)."""
    conditions = [MetadataOccurrence.namespace_id == namespace_id]
    if note_id is not None:
        conditions.append(MetadataOccurrence.note_id == note_id)
    if resource_uris:
        conditions.append(MetadataOccurrence.resource_uri.in_(list(resource_uris)))
    order = (MetadataOccurrence.created_at, MetadataOccurrence.name)
    return await counted_page(session, MetadataOccurrence, conditions, order, offset, limit)


async def delete_occurrence(session: AsyncSession, occurrence_id: uuid.UUID) -> None:
    await session.execute(delete(MetadataOccurrence).where(MetadataOccurrence.id == occurrence_id))


async def occurrences_of_image(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> list[tuple[MetadataOccurrence, MetadataNote, MetadataNamespace]]:
    """Every occurrence over one of ``digests`` in the repository, with its note and
    metadata namespace, oldest first."""
    stmt = (
        select(MetadataOccurrence, MetadataNote, MetadataNamespace)
        .join(MetadataNote, MetadataNote.id == MetadataOccurrence.note_id)
        .join(MetadataNamespace, MetadataNamespace.id == MetadataOccurrence.namespace_id)
        .where(
            MetadataOccurrence.repository_id == repository_id,
            MetadataOccurrence.digest.in_(list(digests)),
        )
        .order_by(MetadataOccurrence.created_at, MetadataOccurrence.name)
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(stmt)]


async def public_keys(session: AsyncSession, namespace_id: uuid.UUID) -> list[MetadataPublicKey]:
    stmt = (
        select(MetadataPublicKey)
        .where(MetadataPublicKey.namespace_id == namespace_id)
        .order_by(MetadataPublicKey.created_at, MetadataPublicKey.fingerprint)
    )
    return list((await session.execute(stmt)).scalars().all())


async def find_public_key(
    session: AsyncSession, namespace_id: uuid.UUID, fingerprint: str
) -> MetadataPublicKey | None:
    stmt = select(MetadataPublicKey).where(
        MetadataPublicKey.namespace_id == namespace_id,
        MetadataPublicKey.fingerprint == fingerprint,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_public_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    await session.execute(delete(MetadataPublicKey).where(MetadataPublicKey.id == key_id))


async def find_policy(session: AsyncSession, instance_id: str, name: str) -> SignaturePolicy | None:
    stmt = select(SignaturePolicy).where(
        SignaturePolicy.instance_id == instance_id, SignaturePolicy.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_policies(
    session: AsyncSession, instance_id: str, offset: int, limit: int
) -> tuple[Sequence[SignaturePolicy], int]:
    conditions = [SignaturePolicy.instance_id == instance_id]
    return await counted_page(
        session, SignaturePolicy, conditions, (SignaturePolicy.name,), offset, limit
    )


async def delete_policy(session: AsyncSession, policy_id: uuid.UUID) -> None:
    await session.execute(delete(SignaturePolicy).where(SignaturePolicy.id == policy_id))


async def policies_over(
    db: Database, instance_id: str, full_name: str
) -> Sequence[SignaturePolicy]:
    """The policies of the repository ``full_name`` and of its namespace (the pull path:
    one statement on the instance's policies, by the unique index's prefix)."""
    namespace = full_name.split("/", 1)[0]
    stmt = (
        select(SignaturePolicy)
        .where(
            SignaturePolicy.instance_id == instance_id,
            or_(SignaturePolicy.namespace == namespace, SignaturePolicy.repository == full_name),
        )
        .order_by(SignaturePolicy.name)
    )
    async with db.read() as session:
        return (await session.execute(stmt)).scalars().all()


async def index_parents(session: AsyncSession, repository_id: uuid.UUID, digest: str) -> list[str]:
    """Digests of the repository's indexes that list ``digest`` as a child."""
    stmt = (
        select(Manifest.digest)
        .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
        .where(
            Manifest.repository_id == repository_id,
            ManifestReference.kind == "manifest",
            ManifestReference.digest == digest,
        )
    )
    return list((await session.execute(stmt)).scalars().all())


async def tags_on(
    session: AsyncSession, repository_id: uuid.UUID, digests: Sequence[str]
) -> list[str]:
    """Names of the repository's tags that point at one of ``digests``."""
    stmt = (
        select(Tag.name)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository_id, Manifest.digest.in_(list(digests)))
    )
    return list((await session.execute(stmt)).scalars().all())


async def instance_public_keys(
    session: AsyncSession, instance_id: str
) -> list[tuple[MetadataPublicKey, str]]:
    """Every public key registered in the instance's metadata namespaces, with the
    namespace's name (OCI-native signatures name no namespace: any registered key counts)."""
    stmt = (
        select(MetadataPublicKey, MetadataNamespace.name)
        .join(MetadataNamespace, MetadataNamespace.id == MetadataPublicKey.namespace_id)
        .where(MetadataNamespace.instance_id == instance_id)
        .order_by(MetadataNamespace.name, MetadataPublicKey.created_at)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]
