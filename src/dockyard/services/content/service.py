"""Blobs, uploads, manifests, tags and referrers of repositories.

Bytes first, metadata second: blob bytes are verified and renamed into the content store
before the row that makes them visible commits, so a crash at any point leaves either no
trace or invisible bytes that garbage collection reclaims — never a visible partial blob.

Chunked uploads hash as they go. The running hash lives in the worker that received the
previous chunk; when the next chunk or the final PUT reaches another worker or node, the
hash is rebuilt from the stored bytes (one extra read, no shared hash state to corrupt).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import orjson

from dockyard.clock import SYSTEM_CLOCK
from dockyard.errors import (
    InvalidInputError,
    StorageFullError,
)
from dockyard.events import EventType
from dockyard.metadata.queries import content as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.queries import usage as uq
from dockyard.metadata.session import Database
from dockyard.oci.digest import Digest, DigestError
from dockyard.oci.manifest import ManifestKind, ParsedManifest, parse_manifest, stored_kind
from dockyard.oci.mediatypes import is_foreign
from dockyard.oci.reference import validate_tag
from dockyard.services.access import DELETE_TAG, PUSH
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import errors
from dockyard.services.content.views import (
    HistoryEntry,
    LayersView,
    LayerView,
    Lookup,
    ManifestView,
    PlatformView,
    PrunedTags,
    PushedManifest,
    TagPointer,
    TagView,
    UploadState,
)
from dockyard.services.paging import Page, PageRequest
from dockyard.services.tenancy import RepositoryRef, editions, ref_of_key
from dockyard.services.tenancy.editions import Feature
from dockyard.services.usage.rules import QuotaExceededError
from dockyard.storage import (
    BlobBody,
    BlobStore,
    OffsetMismatchError,
    StorageError,
    UploadMissingError,
)

IMMUTABLE_TAG_MESSAGE = "The requested tag already exists and cannot be overwritten."
MUTABLE_TAG = "latest"
HASHER_CACHE_ENTRIES = 2048
#: Image configs larger than this are not read for layer history.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: Tags ``prune_tags`` deletes per transaction.
PRUNE_BATCH = 500


class _ReclaimedError(Exception):
    """The blob a mount wanted was reclaimed by garbage collection meanwhile."""


def _parse_digest(value: str) -> Digest:
    try:
        return Digest.parse(value)
    except DigestError as exc:
        raise errors.DigestInvalidError(exc.message) from exc


class ContentService:
    def __init__(
        self,
        db: Database,
        store: BlobStore,
        upload_ttl: timedelta,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        self._db = db
        self._store = store
        self._upload_ttl = upload_ttl
        #: Pushes and deletes are audited in their own transaction (None: not audited).
        self._audit = audit
        #: upload id → (bytes hashed so far, running sha256) for chunks that stay here.
        self._hashers: OrderedDict[uuid.UUID, tuple[int, Any]] = OrderedDict()

    # ---- blobs -------------------------------------------------------------------------

    async def stat_blob(self, repo: RepositoryRef, digest: str) -> int:
        parsed = _parse_digest(digest)
        found = await q.linked_blob_size(self._db, repo.id, str(parsed))
        if found is None or (found[1] and not await self._pardon(repo.id, str(parsed))):
            raise errors.BlobUnknownError(f"blob {digest} is not in {repo.full_name}")
        return found[0]

    async def _pardon(self, repository_id: uuid.UUID, digest: str) -> bool:
        """A client saw a blob garbage collection condemned: lift the condemnation before
        answering, so the manifest it may push next still finds the blob. False when GC
        deleted it first (the answer is then 404, and the client uploads it again)."""
        async with self._db.write() as session:
            return await q.pardon_linked_blob(session, repository_id, digest)

    @errors.storage_as_domain
    async def blob_body(self, repo: RepositoryRef, digest: str) -> BlobBody:
        await self.stat_blob(repo, digest)
        return await self._store.body(Digest.parse(digest))

    async def lookup_blob(self, instance_id: str, full_name: str, digest: str) -> Lookup[int]:
        """The repository and the blob's size when linked to it: one statement (blob HEAD)."""
        try:
            parsed = str(Digest.parse(digest))
        except DigestError as exc:
            key = await tq.repository_key(self._db, instance_id, full_name)
            repo = ref_of_key(instance_id, full_name, *key) if key else None
            return Lookup(repo, None, errors.DigestInvalidError(exc.message))
        row = await q.blob_in_repository(self._db, instance_id, full_name, parsed)
        if row is None:
            return Lookup(None, None)
        id_, type_, mutability, edition, size, condemned = row
        if size is not None and condemned and not await self._pardon(id_, parsed):
            size = None
        return Lookup(
            ref_of_key(instance_id, full_name, id_, type_, mutability, edition),
            size,
            errors.BlobUnknownError(f"blob {digest} is not in {full_name}"),
        )

    @errors.storage_as_domain
    async def body_of(self, digest: str) -> BlobBody:
        """How to send a blob whose link :meth:`lookup_blob` already proved."""
        return await self._store.body(Digest.parse(digest))

    def blob_stream(self, digest: str, start: int, end: int) -> AsyncIterator[bytes]:
        return errors.stream_as_domain(self._store.open_stream(Digest.parse(digest), start, end))

    async def delete_blob(
        self,
        repo: RepositoryRef,
        digest: str,
        *,
        actor: Actor | None = None,
        resource: str = "",
    ) -> None:
        parsed = _parse_digest(digest)
        async with self._db.write() as session:
            if not await q.unlink_blob(session, repo.id, str(parsed)):
                raise errors.BlobUnknownError(f"blob {digest} is not in {repo.full_name}")
            await q.add_outbox_event(
                session,
                repo.instance_id,
                EventType.BLOB_DELETED,
                {"repository": repo.full_name, "digest": str(parsed)},
            )
            await self._audit_change(
                session, actor, DELETE_TAG, resource, repo, {"blob": str(parsed)}
            )

    async def _audit_change(
        self,
        session: Any,
        actor: Actor | None,
        action: str,
        resource: str,
        repo: RepositoryRef,
        detail: dict[str, Any],
    ) -> None:
        """The audit row of a push or delete, committed with it (names and digests only)."""
        if self._audit is not None:
            await self._audit.change(
                session,
                actor,
                action,
                resource,
                {"instanceId": repo.instance_id, "repository": repo.full_name, **detail},
            )

    async def mount(self, repo: RepositoryRef, digest: str, source: RepositoryRef) -> bool:
        """Link a blob from ``source``; False when the source does not hold it."""
        parsed = _parse_digest(digest)
        try:
            async with self._db.write() as session:
                blob = await q.find_linked_blob(session, source.id, str(parsed))
                if blob is None:
                    return False
                _, unproved = await q.link_blob(session, repo.id, blob.digest, blob.size)
                if unproved and await self._store.stat(parsed) is None:
                    raise _ReclaimedError  # by garbage collection, after the lookup
                await q.add_outbox_event(
                    session,
                    repo.instance_id,
                    EventType.BLOB_MOUNTED,
                    {"repository": repo.full_name, "digest": blob.digest, "from": source.full_name},
                )
        except _ReclaimedError:
            return False  # rolled back: the client uploads the blob instead
        return True

    # ---- uploads -----------------------------------------------------------------------

    @errors.storage_as_domain
    async def start_upload(self, repo: RepositoryRef) -> UploadState:
        key = await self._store.start_upload()
        async with self._db.write(durable=False) as session:
            upload_id = await q.add_upload(
                session, repo.id, key, SYSTEM_CLOCK.now() + self._upload_ttl
            )
        self._remember(upload_id, 0, hashlib.sha256())
        return UploadState(upload_id, 0)

    @errors.storage_as_domain
    async def monolithic_upload(
        self, repo: RepositoryRef, digest: str, body: AsyncIterator[bytes]
    ) -> int:
        """POST with ``?digest=``: the whole blob in one request, hashed while streamed."""
        expected = _parse_digest(digest)
        key = await self._store.start_upload()
        hasher = expected.hasher()
        try:
            received = await self._store.append(key, 0, body, [hasher])
            if hasher.hexdigest() != expected.hex:
                raise errors.DigestInvalidError(f"content does not match digest {expected}")
            await self._check_quota(repo, expected, received)
            size = await self._store.commit(key, expected)
        except BaseException:
            await self._store.cancel(key)
            raise
        await self._link(repo, expected, size)
        return size

    async def _upload_row(self, repo: RepositoryRef, upload_id: str) -> tuple[uuid.UUID, str]:
        try:
            uid = uuid.UUID(upload_id)
        except ValueError as exc:
            raise errors.UploadUnknownError(f"upload {upload_id!r} unknown") from exc
        upload = await q.upload_of_repository(self._db, repo.id, uid)
        if upload is None or upload[1] < SYSTEM_CLOCK.now():
            raise errors.UploadUnknownError(f"upload {upload_id} unknown")
        return uid, upload[0]

    @errors.storage_as_domain
    async def upload_status(self, repo: RepositoryRef, upload_id: str) -> UploadState:
        uid, key = await self._upload_row(repo, upload_id)
        try:
            return UploadState(uid, await self._store.upload_size(key))
        except UploadMissingError as exc:
            raise errors.UploadUnknownError(f"upload {upload_id} unknown") from exc

    @errors.storage_as_domain
    async def append(
        self, repo: RepositoryRef, upload_id: str, body: AsyncIterator[bytes], start: int | None
    ) -> UploadState:
        uid, key = await self._upload_row(repo, upload_id)
        return UploadState(uid, await self._append(uid, key, body, start))

    async def _append(
        self, uid: uuid.UUID, key: str, body: AsyncIterator[bytes], start: int | None
    ) -> int:
        try:
            size = await self._store.upload_size(key)
        except UploadMissingError as exc:
            raise errors.UploadUnknownError(f"upload {uid} unknown") from exc
        if start is not None and start != size:
            raise errors.RangeInvalidError(f"chunk starts at {start}, upload is at {size}", size)
        cached = self._hashers.pop(uid, None)
        hashers = [cached[1]] if cached and cached[0] == size else []
        try:
            new_size = await self._store.append(key, size, body, hashers)
        except OffsetMismatchError as exc:
            raise errors.RangeInvalidError(exc.message, exc.expected) from exc
        except UploadMissingError as exc:
            raise errors.UploadUnknownError(f"upload {uid} unknown") from exc
        except StorageFullError:
            # Out of space: keeping the session would keep its bytes too. Drop both, so
            # the disk is not held by an upload the client has to start again anyway.
            await self._discard_upload(uid, key)
            raise
        if hashers:
            self._remember(uid, new_size, hashers[0])
        return new_size

    async def _discard_upload(self, uid: uuid.UUID, key: str) -> None:
        self._hashers.pop(uid, None)
        async with self._db.write() as session:
            await q.delete_upload(session, uid)
        await self._store.cancel(key)

    def _remember(self, uid: uuid.UUID, size: int, hasher: Any) -> None:
        self._hashers[uid] = (size, hasher)
        while len(self._hashers) > HASHER_CACHE_ENTRIES:
            self._hashers.popitem(last=False)

    @errors.storage_as_domain
    async def finish_upload(
        self,
        repo: RepositoryRef,
        upload_id: str,
        digest: str,
        body: AsyncIterator[bytes] | None,
        start: int | None = None,
    ) -> int:
        """PUT ``?digest=``: append the last bytes, verify, and make the blob visible."""
        expected = _parse_digest(digest)
        uid, key = await self._upload_row(repo, upload_id)
        size = await self._append(uid, key, body, start) if body is not None else None
        cached = self._hashers.pop(uid, None)
        try:
            if size is None:
                size = await self._store.upload_size(key)
            if cached and cached[0] == size and expected.algorithm == "sha256":
                actual = cached[1].hexdigest()
            else:
                actual = await self._store.hash_upload(key, expected.algorithm)
            if actual != expected.hex:
                await self.cancel_upload(repo, upload_id)
                raise errors.DigestInvalidError(
                    f"uploaded content does not match digest {expected}"
                )
            try:
                await self._check_quota(repo, expected, size)
            except QuotaExceededError:
                await self._discard_upload(uid, key)
                raise
            size = await self._store.commit(key, expected)
        except UploadMissingError as exc:
            # The bytes are gone: a concurrent finish won, or a crash struck between the
            # rename into the blob store and the commit that would have linked the blob.
            # Never link by digest alone here — that would let a caller claim a blob it
            # never uploaded. The client starts the upload again.
            raise errors.UploadUnknownError(f"upload {upload_id} unknown") from exc
        await self._link(repo, expected, size, finished_upload=uid)
        return size

    async def _check_quota(self, repo: RepositoryRef, digest: Digest, size: int) -> None:
        """Refuse a completed upload that would take the namespace beyond its quota: the
        early answer; the manifest push checks again under the namespace's lock."""
        async with self._db.read() as session:
            usage, quota, held = await uq.upload_quota_state(session, repo.id, str(digest))
        if quota is not None and not held and size > 0 and usage + size > quota:
            raise QuotaExceededError(repo.full_name.split("/", 1)[0], quota, usage, size)

    async def _link(
        self,
        repo: RepositoryRef,
        digest: Digest,
        size: int,
        finished_upload: uuid.UUID | None = None,
    ) -> None:
        async with self._db.write() as session:
            linked, unproved = await q.link_blob(session, repo.id, str(digest), size)
            if unproved and await self._store.stat(digest) is None:
                # The store kept an existing copy at commit that garbage collection has
                # deleted since: nothing is linked, and the client uploads again.
                raise errors.UploadUnknownError(
                    f"blob {digest} was reclaimed while the upload finished; upload it again"
                )
            if finished_upload is not None:
                await q.delete_upload(session, finished_upload)
            if not linked:
                return  # the repository already held it: nothing changed, nothing to report
            await q.add_outbox_event(
                session,
                repo.instance_id,
                EventType.BLOB_PUSHED,
                {"repository": repo.full_name, "digest": str(digest), "size": size},
            )

    @errors.storage_as_domain
    async def cancel_upload(self, repo: RepositoryRef, upload_id: str) -> None:
        uid, key = await self._upload_row(repo, upload_id)
        await self._discard_upload(uid, key)

    async def purge_expired_uploads(self) -> int:
        """Drop expired sessions and reclaim bytes no session names (crash leftovers)."""
        return (await self.reclaim_uploads())[0]

    @errors.storage_as_domain
    async def reclaim_uploads(self, *, dry_run: bool = False) -> tuple[int, int]:
        """(uploads, bytes) of expired sessions and of upload bytes no session names
        (crash leftovers older than the upload lifetime), reclaimed unless ``dry_run``.
        A session that has not expired keeps its bytes."""
        now = SYSTEM_CLOCK.now()
        expired: list[str] = []
        async with self._db.read() as session:  # usually none: then no write lock
            known = await q.all_upload_keys(session)
            some_expired = await q.any_expired_upload(session, now)
        if some_expired:
            async with self._db.write() as session:
                expired = [
                    upload.storage_key
                    for upload in await q.expired_uploads(session, now)
                    if dry_run or await q.delete_upload(session, upload.id)
                ]
        cutoff = (now - self._upload_ttl).timestamp()
        orphans = [
            k for k, mtime in await self._store.list_uploads() if k not in known and mtime < cutoff
        ]
        reclaimed = 0
        for key in expired + orphans:
            with contextlib.suppress(UploadMissingError):
                reclaimed += await self._store.upload_size(key)
            if not dry_run:
                await self._store.cancel(key)
        return len(expired) + len(orphans), reclaimed

    # ---- manifests ---------------------------------------------------------------------

    async def get_manifest(self, repo: RepositoryRef, reference: str) -> ManifestView:
        tag, digest = (
            (None, str(_parse_digest(reference))) if ":" in reference else (reference, None)
        )
        row = await q.manifest_columns(self._db, repo.id, tag=tag, digest=digest)
        if row is None:
            raise errors.ManifestUnknownError(f"manifest {reference} is not in {repo.full_name}")
        return ManifestView(*row)

    async def lookup_manifest(
        self, instance_id: str, full_name: str, reference: str
    ) -> Lookup[ManifestView]:
        """The repository and its manifest by tag or digest: one statement (GET/HEAD)."""
        tag: str | None = reference
        digest = None
        if ":" in reference:
            try:
                tag, digest = None, str(Digest.parse(reference))
            except DigestError as exc:
                key = await tq.repository_key(self._db, instance_id, full_name)
                repo = ref_of_key(instance_id, full_name, *key) if key else None
                return Lookup(repo, None, errors.DigestInvalidError(exc.message))
        row = await q.manifest_in_repository(
            self._db, instance_id, full_name, tag=tag, digest=digest
        )
        if row is None:
            return Lookup(None, None)
        id_, type_, mutability, edition, m_digest, media_type, content, signed, scanned = row
        repo = ref_of_key(instance_id, full_name, id_, type_, mutability, edition)
        if m_digest is None or media_type is None or content is None:
            return Lookup(
                repo,
                None,
                errors.ManifestUnknownError(f"manifest {reference} is not in {full_name}"),
            )
        return Lookup(repo, ManifestView(m_digest, media_type, content, signed, scanned))

    async def put_manifest(
        self,
        repo: RepositoryRef,
        reference: str,
        body: bytes,
        content_type: str | None,
        pushed_by: str,
        *,
        actor: Actor | None = None,
        resource: str = "",
    ) -> PushedManifest:
        if ":" in reference:
            expected = _parse_digest(reference)
            digest = Digest(expected.algorithm, hashlib.new(expected.algorithm, body).hexdigest())
            if digest != expected:
                raise errors.DigestInvalidError(
                    f"manifest content does not match digest {expected}"
                )
            tag = None
        else:
            tag = validate_tag(reference)
            digest = Digest.of(body)
        parsed = parse_manifest(body, content_type)
        if parsed.kind is ManifestKind.ARTIFACT:
            editions.require_feature(repo.instance, Feature.OCI_ARTIFACTS)
        now = SYSTEM_CLOCK.now()
        async with self._db.write() as session:
            await self._check_references(session, repo, parsed)
            if tag is not None and repo.immutable and tag != MUTABLE_TAG:
                current = await q.find_manifest_by_tag(session, repo.id, tag)
                if current is not None and current.digest != str(digest):
                    raise errors.ImmutableTagError(IMMUTABLE_TAG_MESSAGE)
            row, references = self._manifest_row(repo, digest, body, parsed, pushed_by)
            row_size = row["size"]
            manifest_id, created = await q.insert_manifest(session, row, references)
            if created:
                await q.add_outbox_event(
                    session,
                    repo.instance_id,
                    EventType.MANIFEST_PUSHED,
                    {
                        "repository": repo.full_name,
                        "digest": str(digest),
                        "mediaType": parsed.media_type,
                        "pushedBy": pushed_by,
                    },
                )
            if tag is not None:
                immutable = repo.immutable and tag != MUTABLE_TAG
                previous = await q.point_tag(
                    session, repo.id, tag, manifest_id, now, keep_existing=immutable
                )
                if immutable and previous not in (None, str(digest)):
                    # Tagged by a concurrent push after the check above: it won the tag.
                    raise errors.ImmutableTagError(IMMUTABLE_TAG_MESSAGE)
                if previous != str(digest):
                    await q.add_outbox_event(
                        session,
                        repo.instance_id,
                        EventType.TAG_UPDATED,
                        {
                            "repository": repo.full_name,
                            "tag": tag,
                            "digest": str(digest),
                            "previous": previous,
                            "mediaType": parsed.media_type,
                            "pushedBy": pushed_by,
                        },
                    )
            if created:
                await _charge(session, repo, digest, body, parsed, row_size)
            pushed = {"digest": str(digest), "mediaType": parsed.media_type}
            await self._audit_change(
                session, actor, PUSH, resource, repo, {**pushed, "tag": tag} if tag else pushed
            )
        return PushedManifest(str(digest), parsed.subject.digest if parsed.subject else None)

    async def _check_references(
        self, session: Any, repo: RepositoryRef, parsed: ParsedManifest
    ) -> None:
        """Everything the manifest names is in the repository; an index whose children are
        not all images (or image signatures) is an artifact, for the edition gate."""
        if parsed.is_index:
            wanted = [c.digest for c in parsed.children]
            children = await q.manifest_types(session, repo.id, wanted)
            missing = set(wanted) - children.keys()
            if parsed.kind is ManifestKind.INDEX and any(
                stored_kind(*types) is ManifestKind.ARTIFACT for types in children.values()
            ):
                editions.require_feature(repo.instance, Feature.OCI_ARTIFACTS)
        else:
            blobs = [
                d
                for d in ([parsed.config] if parsed.config else []) + list(parsed.layers)
                if not _is_foreign(d)
            ]
            wanted = [d.digest for d in blobs]
            missing = set(wanted) - await q.count_linked_blobs(session, repo.id, wanted)
        if missing:
            raise errors.ManifestBlobUnknownError(
                f"manifest references content not in {repo.full_name}: "
                + ", ".join(sorted(missing)),
                detail={"digests": sorted(missing)},
            )

    @staticmethod
    def _manifest_row(
        repo: RepositoryRef, digest: Digest, body: bytes, parsed: ParsedManifest, pushed_by: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The manifest's row and its reference edges, as column values."""
        manifest_id = uuid.uuid4()
        if parsed.is_index:
            edges = [("manifest", d) for d in parsed.children]
            size = len(body)
        else:
            edges = ([("config", parsed.config)] if parsed.config else []) + [
                ("layer", d) for d in parsed.layers
            ]
            size = len(body) + sum(d.size for _, d in edges)
        refs = [
            {
                "manifest_id": manifest_id,
                "position": i,
                "kind": kind,
                "digest": d.digest,
                "media_type": d.media_type,
                "size": d.size,
            }
            for i, (kind, d) in enumerate(edges)
            if d is not None
        ]
        row = {
            "id": manifest_id,
            "repository_id": repo.id,
            "digest": str(digest),
            "media_type": parsed.media_type,
            "artifact_type": parsed.referrer_artifact_type,
            "subject_digest": parsed.subject.digest if parsed.subject else None,
            "size": size,
            "content": body,
            "annotations": orjson.dumps(parsed.annotations).decode()
            if parsed.annotations
            else None,
            "pushed_by": pushed_by,
        }
        return row, refs

    async def delete_manifest(
        self,
        repo: RepositoryRef,
        reference: str,
        *,
        actor: Actor | None = None,
        resource: str = "",
    ) -> None:
        """By digest: the manifest and its tags go. By tag: only the tag goes."""
        async with self._db.write() as session:
            if ":" not in reference:
                if repo.immutable and reference != MUTABLE_TAG:
                    if await q.find_tag(session, repo.id, reference) is None:
                        raise errors.ManifestUnknownError(
                            f"tag {reference} is not in {repo.full_name}"
                        )
                    raise errors.ImmutableTagError(
                        f"tag {reference} of an immutable repository cannot be deleted"
                    )
                if not await q.delete_tag(session, repo.id, reference):
                    raise errors.ManifestUnknownError(f"tag {reference} is not in {repo.full_name}")
                await q.add_outbox_event(
                    session,
                    repo.instance_id,
                    EventType.TAG_DELETED,
                    {"repository": repo.full_name, "tag": reference},
                )
                await self._audit_change(
                    session, actor, DELETE_TAG, resource, repo, {"tag": reference}
                )
                return
            digest = str(_parse_digest(reference))
            row = await q.find_manifest(session, repo.id, digest, lock=True)
            if row is None:
                raise errors.ManifestUnknownError(
                    f"manifest {reference} is not in {repo.full_name}"
                )
            tags = await q.tags_of_manifest(session, row.id)
            if repo.immutable and any(t != MUTABLE_TAG for t in tags):
                raise errors.ImmutableTagError(
                    f"manifest {digest} carries tags of an immutable repository"
                )
            await q.delete_manifest(session, row.id)
            await q.add_outbox_event(
                session,
                repo.instance_id,
                EventType.MANIFEST_DELETED,
                {"repository": repo.full_name, "digest": digest, "tags": list(tags)},
            )
            await self._audit_change(
                session, actor, DELETE_TAG, resource, repo, {"digest": digest, "tags": list(tags)}
            )

    async def list_tags(
        self, repo: RepositoryRef, last: str | None, n: int | None
    ) -> tuple[list[str], bool]:
        """A page of tags in lexical order, and whether more follow."""
        async with self._db.read() as session:
            names = list(await q.list_tags(session, repo.id, last, None if n is None else n + 1))
        if n is not None and len(names) > n:
            return names[:n], True
        return names, False

    async def lookup_tags(
        self, instance_id: str, full_name: str, last: str | None, n: int | None
    ) -> Lookup[tuple[list[str], bool]]:
        """The repository and a page of its tags (and whether more follow): one statement."""
        if n == 0:
            key = await tq.repository_key(self._db, instance_id, full_name)
            repo = ref_of_key(instance_id, full_name, *key) if key else None
            return Lookup(repo, ([], False))
        rows = await q.tag_page_in_repository(
            self._db, instance_id, full_name, last, None if n is None else n + 1
        )
        # No rows: past the last tag, or no such repository (then one more statement).
        key = rows[0][:4] if rows else await tq.repository_key(self._db, instance_id, full_name)
        if key is None:
            return Lookup(None, None)
        repo = ref_of_key(instance_id, full_name, key[0], key[1], key[2], key[3])
        names = [name for *_, name in rows]
        if n is not None and len(names) > n:
            return Lookup(repo, (names[:n], True))
        return Lookup(repo, (names, False))

    # ---- management views ------------------------------------------------------------

    async def list_tag_details(self, repo: RepositoryRef, page: PageRequest) -> Page[TagView]:
        """Tags with digest, media type, artifact type, size (per platform) and push time."""
        async with self._db.read() as session:
            rows, total = await q.list_tag_rows(session, repo.id, page.offset, page.page_size)
            parsed = {m.digest: parse_manifest(m.content, m.media_type) for _, m in rows}
            children = [c.digest for p in parsed.values() if p.is_index for c in p.children]
            child_rows = await q.manifests_by_digest(session, repo.id, children)
        items = []
        for tag, manifest in rows:
            doc = parsed[manifest.digest]
            platforms = tuple(
                PlatformView(
                    *_platform_of(child),
                    child.digest,
                    child.media_type,
                    child_rows[child.digest].size if child.digest in child_rows else None,
                )
                for child in doc.children
            )
            items.append(
                TagView(
                    tag.name,
                    manifest.digest,
                    manifest.media_type,
                    doc.referrer_artifact_type,
                    manifest.size,
                    tag.updated_at,
                    platforms,
                    manifest.pushed_by,
                )
            )
        return Page(items, page.page, page.page_size, total)

    async def delete_tag(
        self,
        repo: RepositoryRef,
        tag: str,
        *,
        actor: Actor | None = None,
        resource: str = "",
    ) -> None:
        """Only the tag goes; the manifest stays while other tags or digests reference it."""
        await self.delete_manifest(repo, validate_tag(tag), actor=actor, resource=resource)

    async def tag_pointers(self, repo: RepositoryRef) -> list[TagPointer]:
        """Every tag of the repository with its digest and last move, in name order."""
        async with self._db.read() as session:
            rows = await q.tag_pointers(session, repo.id)
        return [TagPointer(name, digest, updated_at) for name, digest, updated_at in rows]

    async def prune_tags(self, repo: RepositoryRef, tags: Sequence[TagPointer]) -> PrunedTags:
        """Delete ``tags`` (retention's choice), each only while it still points at its
        digest, then every manifest of theirs that nothing references any more (no tag, no
        index, no subject still present), so the next GC frees its blobs. Tags of an
        immutable repository other than ``latest`` stay. Set-wise statements, in
        transactions of ``PRUNE_BATCH`` tags, so the write lock is held briefly."""
        deleted: list[str] = []
        manifests: list[str] = []
        for start in range(0, len(tags), PRUNE_BATCH):
            batch = tags[start : start + PRUNE_BATCH]
            planned = {
                t.name: t.digest for t in batch if not repo.immutable or t.name == MUTABLE_TAG
            }
            async with self._db.write() as session:
                rows = await q.lock_tags(session, repo.id, list(planned))
                doomed = [row for row in rows if planned[row[1]] == row[3]]
                await q.delete_tags(session, [row[0] for row in doomed])
                names = sorted(row[1] for row in doomed)
                await q.add_outbox_events(
                    session,
                    repo.instance_id,
                    EventType.TAG_DELETED,
                    [{"repository": repo.full_name, "tag": name} for name in names],
                )
                candidates = sorted({row[2] for row in doomed})
                unreferenced = await q.lock_unreferenced_manifests(session, repo.id, candidates)
                await q.delete_manifests(session, [row[0] for row in unreferenced])
                digests = sorted(row[1] for row in unreferenced)
                await q.add_outbox_events(
                    session,
                    repo.instance_id,
                    EventType.MANIFEST_DELETED,
                    [{"repository": repo.full_name, "digest": d, "tags": []} for d in digests],
                )
            deleted.extend(names)
            manifests.extend(digests)
        return PrunedTags(tuple(sorted(deleted)), tuple(sorted(manifests)))

    async def layers(self, repo: RepositoryRef, tag: str, platform: str | None) -> LayersView:
        """The layers of the image a tag names (for an index, of ``platform``'s image)."""
        validate_tag(tag)
        async with self._db.read() as session:
            row = await q.find_manifest_by_tag(session, repo.id, tag)
            if row is None:
                raise errors.ManifestUnknownError(f"tag {tag} is not in {repo.full_name}")
            doc = parse_manifest(row.content, row.media_type)
            chosen = None
            if doc.is_index:
                options = {_platform_name(*_platform_of(c)): c for c in doc.children}
                if platform is None:
                    raise InvalidInputError(
                        f"tag {tag} is an image index; choose a platform: "
                        + ", ".join(sorted(options))
                    )
                # "linux/arm64" also names "linux/arm64/v8" when that is the only variant.
                child = options.get(platform) or next(
                    (c for n, c in options.items() if "/".join(n.split("/")[:2]) == platform),
                    None,
                )
                if child is None:
                    raise errors.ManifestUnknownError(
                        f"tag {tag} has no {platform} image; it has " + ", ".join(sorted(options))
                    )
                chosen = _platform_name(*_platform_of(child))
                row = await q.find_manifest(session, repo.id, child.digest)
                if row is None:
                    raise errors.ManifestUnknownError(
                        f"the {chosen} image of tag {tag} is not in {repo.full_name}"
                    )
                doc = parse_manifest(row.content, row.media_type)
        history = await self._history(doc)
        layers = [
            LayerView(d.digest, d.size, d.media_type, history[i] if i < len(history) else None)
            for i, d in enumerate(doc.layers)
        ]
        return LayersView(row.digest, chosen, layers)

    async def _history(self, doc: ParsedManifest) -> list[HistoryEntry]:
        config = doc.config
        if config is None or config.size > MAX_CONFIG_BYTES or "json" not in config.media_type:
            return []
        try:
            digest = Digest.parse(config.digest)
            data = b"".join([c async for c in self._store.open_stream(digest, 0, config.size)])
            return _history_entries(orjson.loads(data))
        except (StorageError, DigestError, orjson.JSONDecodeError, OSError):
            return []

    async def referrers(
        self, repo: RepositoryRef, digest: str, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        subject = str(_parse_digest(digest))
        async with self._db.read() as session:
            rows = await q.list_referrers(session, repo.id, subject, artifact_type)
        out = []
        for row in rows:
            descriptor: dict[str, Any] = {
                "mediaType": row.media_type,
                "digest": row.digest,
                "size": len(row.content),
            }
            if row.artifact_type:
                descriptor["artifactType"] = row.artifact_type
            if row.annotations:
                descriptor["annotations"] = orjson.loads(row.annotations)
            out.append(descriptor)
        return out

    @errors.storage_as_domain
    async def small_blob(self, repo: RepositoryRef, digest: str, limit: int) -> bytes:
        """The bytes of a small blob linked to ``repo`` (a signature's payload or envelope);
        a larger one is refused rather than read into memory."""
        size = await self.stat_blob(repo, digest)
        if size > limit:
            raise InvalidInputError(f"blob {digest} is larger than {limit} bytes")
        return b"".join([c async for c in self._store.open_stream(Digest.parse(digest), 0, size)])


async def _charge(
    session: Any,
    repo: RepositoryRef,
    digest: Digest,
    body: bytes,
    parsed: ParsedManifest,
    logical: int,
) -> None:
    """Count a new manifest in its namespace's usage, under the namespace's lock; refuse it
    (the transaction rolls back) when it adds bytes beyond the namespace's quota."""
    content = {str(digest): len(body)}
    if not parsed.is_index:
        for descriptor in ([parsed.config] if parsed.config else []) + list(parsed.layers):
            if not _is_foreign(descriptor):
                content.setdefault(descriptor.digest, descriptor.size)
    charge = await uq.charge_manifest(session, repo.id, logical, content)
    if charge.exceeds:
        assert charge.quota is not None  # exceeds says so
        namespace = repo.full_name.split("/", 1)[0]
        raise QuotaExceededError(namespace, charge.quota, charge.unique_before, charge.added)


def _platform_of(descriptor: Any) -> tuple[str, str, str | None]:
    platform = descriptor.platform or {}
    variant = platform.get("variant")
    return (
        str(platform.get("os", "")),
        str(platform.get("architecture", "")),
        str(variant) if variant else None,
    )


def _platform_name(os_: str, arch: str, variant: str | None) -> str:
    return f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"


def _history_entries(config: Any) -> list[HistoryEntry]:
    """The config's history entries that created a layer, in layer order."""
    history = config.get("history") if isinstance(config, dict) else None
    if not isinstance(history, list):
        return []
    out = []
    for entry in history:
        if not isinstance(entry, dict) or entry.get("empty_layer") is True:
            continue
        out.append(
            HistoryEntry(
                *(
                    str(entry[k]) if entry.get(k) is not None else None
                    for k in ("created", "created_by", "comment", "author")
                )
            )
        )
    return out


def _is_foreign(descriptor: Any) -> bool:
    return is_foreign(descriptor.media_type)
