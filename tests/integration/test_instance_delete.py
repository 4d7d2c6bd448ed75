"""Deleting an instance removes everything that hangs on it, in one transaction, on SQLite
and PostgreSQL; blobs stay (for garbage collection) and other instances are untouched."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration import test_content_service as content
from tests.integration.test_content_service import World, body

from dockyard.errors import ConflictError
from dockyard.metadata.models import (
    Blob,
    EndpointAclEntry,
    Instance,
    InstanceEndpoint,
    Manifest,
    ManifestReference,
    Namespace,
    OutboxEvent,
    PullLease,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
)
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.tenancy import (
    AllowlistEntry,
    Endpoint,
    InstanceNotEmptyError,
    InstanceNotFoundError,
)

pytestmark = pytest.mark.integration

#: The content service tests' migrated database and store, on SQLite and on PostgreSQL.
world = content.world

HANGING = (
    Namespace,
    Repository,
    Manifest,
    Tag,
    RepositoryBlob,
    Upload,
    OutboxEvent,
    InstanceEndpoint,
    PullLease,
)


async def rows(w: World, model: Any) -> int:
    async with w.db.read() as session:
        return len((await session.execute(select(model))).scalars().all())


async def snapshot(w: World) -> dict[str, int]:
    return {m.__name__: await rows(w, m) for m in (*HANGING, EndpointAclEntry, ManifestReference)}


def test_forced_delete_removes_what_hangs_on_the_instance(world: World) -> None:
    async def scenario() -> None:
        async with world as w:
            # The default instance's content, which must survive.
            await w.content.put_manifest(
                w.repo, "v1", await w.image("kept"), mt.OCI_MANIFEST, "alice"
            )
            before = await snapshot(w)

            endpoint = Endpoint("vpc", "doomed.test", True, (AllowlistEntry("10.0.0.0/8"),))
            doomed = await w.tenancy.create_instance("doomed", "local", "Advanced", [endpoint])
            await w.tenancy.create_namespace(doomed.id, "empty")
            repo = await w.tenancy.ensure_repository(doomed.id, RepositoryName.parse("team/app"))
            shared = await w.image("kept", repo)  # the same blobs as the default instance's
            await w.content.put_manifest(repo, "v1", shared, mt.OCI_MANIFEST, "alice")
            upload = await w.content.start_upload(repo)
            await w.content.append(repo, str(upload.id), body(b"half"), 0)
            async with w.db.write() as session:
                expires = datetime.now(UTC) + timedelta(minutes=1)
                session.add(
                    PullLease(instance_id=doomed.id, address="10.0.0.1", expires_at=expires)
                )
            blobs, blob_files = await rows(w, Blob), w.blob_files()

            with pytest.raises(InstanceNotEmptyError, match="2 namespaces"):
                await w.tenancy.delete_instance(doomed.id)
            assert await snapshot(w) != before

            await w.tenancy.delete_instance(doomed.id, force=True)
            assert await snapshot(w) == before
            async with w.db.read() as session:
                assert await session.get(Instance, doomed.id) is None
            assert await rows(w, Blob) == blobs and w.blob_files() == blob_files
            with pytest.raises(InstanceNotFoundError):
                await w.tenancy.delete_instance(doomed.id, force=True)
            assert (await w.tenancy.route_host("doomed.test")).instance.id == "default"

    asyncio.run(scenario())


def test_the_default_instance_stays(world: World) -> None:
    async def scenario() -> None:
        async with world as w:
            with pytest.raises(ConflictError, match="default instance"):
                await w.tenancy.delete_instance("default", force=True)
            assert (await w.tenancy.get_instance("default")).id == "default"

    asyncio.run(scenario())
