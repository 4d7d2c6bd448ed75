"""Occurrences travel with their image (PRODUCT.md §8): replication to another instance
of this deployment carries the occurrences over the manifests it copied.

An occurrence keeps its name, note, signatures and ``ResourceUri`` (the URL its
publisher signed, which names the same digest) and is stored with the copy; its metadata
namespace and note are made at the destination when missing. Public keys are not
carried: which keys an instance trusts is that instance's choice, so a carried signature
verifies there once its key is registered there. An occurrence whose name is taken in the
destination's metadata namespace stays where it is (a re-run carries nothing twice).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.metadata.models import (
    MetadataNamespace,
    MetadataNote,
    MetadataOccurrence,
)
from dockyard.metadata.queries import signing as q
from dockyard.metadata.session import Database
from dockyard.services.tenancy import RepositoryRef


async def carry_occurrences(
    db: Database,
    source: RepositoryRef,
    target: RepositoryRef,
    digests: Sequence[str],
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Copy the occurrences over ``digests`` in ``source`` to ``target``; how many."""
    carried = 0
    async with db.write() as session:
        for occurrence, note, ns in await q.occurrences_of_image(session, source.id, digests):
            namespace = await _namespace(session, target.instance_id, ns, clock)
            if await q.find_occurrence(session, namespace.id, occurrence.name) is not None:
                continue
            copy = MetadataOccurrence(
                id=uuid.uuid4(),
                namespace_id=namespace.id,
                name=occurrence.name,
                note_id=(await _note(session, namespace, note, clock)).id,
                repository_id=target.id,
                digest=occurrence.digest,
                resource_uri=occurrence.resource_uri,
                kind=occurrence.kind,
                signatures=list(occurrence.signatures),
                created_at=clock.now(),
            )
            session.add(copy)
            await session.flush()
            carried += 1
    return carried


async def _namespace(
    session: AsyncSession, instance_id: str, source: MetadataNamespace, clock: Clock
) -> MetadataNamespace:
    found = await q.find_namespace(session, instance_id, source.name)
    if found is not None:
        return found
    row = MetadataNamespace(
        id=uuid.uuid4(),
        instance_id=instance_id,
        name=source.name,
        description=source.description,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def _note(
    session: AsyncSession, namespace: MetadataNamespace, source: MetadataNote, clock: Clock
) -> MetadataNote:
    found = await q.find_note(session, namespace.id, source.name)
    if found is not None:
        return found
    row = MetadataNote(
        id=uuid.uuid4(),
        namespace_id=namespace.id,
        name=source.name,
        kind=source.kind,
        short_description=source.short_description,
        long_description=source.long_description,
        human_readable_name=source.human_readable_name,
        expires_at=source.expires_at,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row
