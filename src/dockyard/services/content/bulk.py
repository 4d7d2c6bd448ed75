"""Bulk seeding: many repositories, each with many tags, in large batched INSERTs.

For scale tests and the scale benchmark (``benchmarks/scale.py``: 100,000 repositories and
1,000,000 tags): pushing that through the registry protocol would take hours. The rows are
the ones a push writes — namespaces, repositories, blob links, manifests with their
reference edges, tags — so every read path (manifest GET, blob HEAD, tags list, catalog,
referrers, management views) and every later push sees an ordinary registry.

* Edition limits hold: namespaces and repositories are counted and inserted under the
  instance row lock in one transaction, like ``TenancyService.ensure_repository``.
* The image bytes are real: a small set of images (config + one layer + manifest) is
  pushed once through :class:`ContentService` (verified, fsynced, linked, with events);
  every seeded repository then links those blobs and holds those manifests, and its tags
  point at them in turn.
* Rows go in batches of about ``batch_rows`` per write transaction (``executemany`` with
  multi-row VALUES on SQLite and PostgreSQL), so a live server's writers are not held off
  for the whole seeding.
* Storage usage is counted again per seeded namespace at the end (one statement set each),
  as the pushes would have counted it.
* No outbox event per seeded row (one ``BulkSeeded`` event names the batch): seeding is
  not a stream of pushes, and nothing consumes the outbox per row yet.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from dockyard.errors import AlreadyExistsError, InvalidInputError
from dockyard.events import EventType
from dockyard.metadata.base import utcnow
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.queries import usage as uq
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.content.service import ContentService
from dockyard.services.tenancy import InstanceNotFoundError, TenancyService, editions
from dockyard.services.tenancy.editions import Limit
from dockyard.services.tenancy.rules import check_new_name

#: Repositories per seeded namespace (the Standard edition's per-namespace limit).
REPOSITORIES_PER_NAMESPACE = 1000
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
SEEDED_BY = "bulk-seed"


@dataclass(frozen=True, slots=True)
class SeedReport:
    namespaces: int
    repositories: int
    manifests: int
    tags: int
    seconds: float
    #: One repository's name, and the tags and manifest digests every repository holds.
    sample_repository: str
    tag_names: tuple[str, ...]
    manifest_digests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Image:
    config: bytes
    layer: bytes
    manifest: bytes
    digest: str
    size: int
    #: (kind, digest, media type, size) per reference edge, in manifest order.
    edges: tuple[tuple[str, str, str, int], ...]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image(seed: str) -> _Image:
    layer = hashlib.shake_256(seed.encode()).digest(512)
    config = orjson.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]},
            "config": {"Labels": {"seed": seed}},
        }
    )
    manifest = orjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_IMAGE_CONFIG,
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": [{"mediaType": LAYER_TYPE, "digest": _sha(layer), "size": len(layer)}],
        }
    )
    edges = (
        ("config", _sha(config), mt.OCI_IMAGE_CONFIG, len(config)),
        ("layer", _sha(layer), LAYER_TYPE, len(layer)),
    )
    size = len(manifest) + len(config) + len(layer)
    return _Image(config, layer, manifest, _sha(manifest), size, edges)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


class BulkService:
    def __init__(self, db: Database, content: ContentService, tenancy: TenancyService) -> None:
        self._db = db
        self._content = content
        self._tenancy = tenancy

    async def seed(
        self,
        instance_id: str,
        *,
        repositories: int,
        tags_per_repository: int,
        images: int = 2,
        prefix: str = "seed",
        per_namespace: int = REPOSITORIES_PER_NAMESPACE,
        batch_rows: int = 20_000,
        progress: Callable[[int, int], None] | None = None,
    ) -> SeedReport:
        """Create ``repositories`` new repositories (in new namespaces ``<prefix>0000``…,
        ``per_namespace`` each) with ``tags_per_repository`` tags each, pointing in turn at
        ``images`` distinct small images. ``progress(done, total)`` is called after each batch."""
        if repositories < 1 or tags_per_repository < 0 or not 1 <= images <= 100:
            raise InvalidInputError("repositories >= 1, tags >= 0 and 1-100 images")
        if not 1 <= per_namespace <= REPOSITORIES_PER_NAMESPACE:
            raise InvalidInputError(f"1-{REPOSITORIES_PER_NAMESPACE} repositories per namespace")
        started = time.perf_counter()
        namespace_count = -(-repositories // per_namespace)
        ns_names = [f"{prefix}{i:04d}" for i in range(namespace_count)]
        names = [(ns_names[i // per_namespace], f"r{i:06d}") for i in range(repositories)]
        for ns, repo in (names[0], names[-1]):
            check_new_name(RepositoryName(ns, repo))  # the prefix must make valid names

        repo_ids = await self._create_repositories(instance_id, ns_names, names, per_namespace)

        # Real bytes for a few images, pushed once into the first repository.
        first = await self._tenancy.find_repository(
            instance_id, RepositoryName.parse(f"{names[0][0]}/{names[0][1]}")
        )
        assert first is not None
        built = [_image(f"{prefix}-{instance_id}-{i}") for i in range(images)]
        for image in built:
            for data in (image.config, image.layer):
                await self._content.monolithic_upload(first, _sha(data), _body(data))
        digests = sorted({edge[1] for image in built for edge in image.edges})
        async with self._db.read() as session:
            blob_ids = await cq.blob_ids(session, digests)

        tag_names = tuple(f"v{t:05d}" for t in range(tags_per_repository))
        per_repo = len(blob_ids) + images * 3 + tags_per_repository  # rows per repository
        step = max(1, batch_rows // per_repo)
        done = 0
        for start in range(0, repositories, step):
            chunk = repo_ids[start : start + step]
            await self._fill(chunk, built, blob_ids, tag_names, skip_links=start == 0)
            done += len(chunk)
            if progress is not None:
                progress(done, repositories)

        async with self._db.read() as session:
            namespace_ids = await tq.namespace_ids(session, instance_id, ns_names)
        for namespace_id in namespace_ids.values():  # storage usage, as pushes count it
            async with self._db.write() as session:
                await uq.recount_namespace(session, namespace_id)
        async with self._db.write() as session:
            await cq.add_outbox_event(
                session,
                instance_id,
                EventType.BULK_SEEDED,
                {
                    "namespaces": ns_names[:1] + ns_names[-1:],
                    "repositories": repositories,
                    "tagsPerRepository": tags_per_repository,
                },
            )
        return SeedReport(
            namespace_count,
            repositories,
            repositories * images,
            repositories * tags_per_repository,
            time.perf_counter() - started,
            f"{names[0][0]}/{names[0][1]}",
            tag_names,
            tuple(image.digest for image in built),
        )

    async def _create_repositories(
        self,
        instance_id: str,
        ns_names: list[str],
        names: list[tuple[str, str]],
        per_namespace: int,
    ) -> list[uuid.UUID]:
        """Namespaces and repositories, counted and inserted under the instance lock."""
        now = utcnow()
        async with self._db.write() as session:
            instance = await tq.lock_instance(session, instance_id)
            if instance is None:
                raise InstanceNotFoundError(f"instance {instance_id} does not exist")
            if await tq.namespace_ids(session, instance_id, ns_names):
                raise AlreadyExistsError(
                    f"namespaces {ns_names[0]}..{ns_names[-1]} exist already: choose a prefix"
                )
            editions.check_limit(
                instance,
                Limit.NAMESPACES,
                await tq.count_namespaces(session, instance_id),
                len(ns_names),
            )
            editions.check_limit(
                instance,
                Limit.REPOSITORIES,
                await tq.count_repositories(session, instance_id),
                len(names),
            )
            editions.check_limit(
                instance, Limit.REPOSITORIES_PER_NAMESPACE, 0, min(len(names), per_namespace)
            )
            ns_rows = [
                {
                    "id": uuid.uuid4(),
                    "instance_id": instance_id,
                    "name": name,
                    "auto_create": True,
                    "default_repository_type": "private",
                    "organization_id": None,
                    "resource_set_id": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for name in ns_names
            ]
            await tq.insert_namespaces(session, ns_rows)
            ns_ids = {row["name"]: row["id"] for row in ns_rows}
            ids = [uuid.uuid4() for _ in names]
            rows = [
                {
                    "id": id_,
                    "public_id": f"crr-{id_.hex[:16]}",
                    "instance_id": instance_id,
                    "namespace_id": ns_ids[ns],
                    "name": repo,
                    "full_name": f"{ns}/{repo}",
                    "type": "private",
                    "summary": "",
                    "description": "",
                    "tag_mutability": "Flexible",
                    "organization_id": None,
                    "resource_set_id": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for id_, (ns, repo) in zip(ids, names, strict=True)
            ]
            for i in range(0, len(rows), 5000):
                await tq.insert_repositories(session, rows[i : i + 5000])
        return ids

    async def _fill(
        self,
        repo_ids: list[uuid.UUID],
        images: list[_Image],
        blob_ids: dict[str, uuid.UUID],
        tag_names: tuple[str, ...],
        *,
        skip_links: bool,
    ) -> None:
        """Blob links, manifests (with reference edges) and tags of some repositories."""
        now = utcnow()
        links: list[dict[str, Any]] = []
        manifests: list[dict[str, Any]] = []
        references: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        for index, repo_id in enumerate(repo_ids):
            if not (skip_links and index == 0):  # the pushes linked the first repository
                links.extend(
                    {"repository_id": repo_id, "blob_id": blob_id, "created_at": now}
                    for blob_id in blob_ids.values()
                )
            manifest_ids = []
            for image in images:
                manifest_id = uuid.uuid4()
                manifest_ids.append(manifest_id)
                manifests.append(
                    {
                        "id": manifest_id,
                        "repository_id": repo_id,
                        "digest": image.digest,
                        "media_type": mt.OCI_MANIFEST,
                        "artifact_type": None,
                        "subject_digest": None,
                        "size": image.size,
                        "content": image.manifest,
                        "annotations": None,
                        "pushed_by": SEEDED_BY,
                        "created_at": now,
                    }
                )
                references.extend(
                    {
                        "manifest_id": manifest_id,
                        "position": position,
                        "kind": kind,
                        "digest": digest,
                        "media_type": media_type,
                        "size": size,
                    }
                    for position, (kind, digest, media_type, size) in enumerate(image.edges)
                )
            tags.extend(
                {
                    "id": uuid.uuid4(),
                    "repository_id": repo_id,
                    "name": name,
                    "manifest_id": manifest_ids[t % len(manifest_ids)],
                    "created_at": now,
                    "updated_at": now,
                }
                for t, name in enumerate(tag_names)
            )
        async with self._db.write() as session:
            await cq.insert_many(session, "repository_blobs", links)
            await cq.insert_many(session, "manifests", manifests)
            await cq.insert_many(session, "manifest_references", references)
            await cq.insert_many(session, "tags", tags)
