"""Storage usage and quotas below the HTTP faces, on SQLite and on a real PostgreSQL.

Pushes go through the content service; after every step the counters are compared with a
recount from the manifests and references themselves (``recount``: the oracle), and with
the sums each scenario expects by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from dockyard.metadata.models import (
    Account,
    AuditEvent,
    Instance,
    Manifest,
    ManifestReference,
    Namespace,
    NamespaceContent,
    NamespaceUsage,
    Repository,
)
from dockyard.metadata.queries import usage as usage_queries
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService, TagPointer
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.services.usage import QuotaExceededError, UsageService
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

INSTANCE = "default"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
ADMIN = Actor("admin")
PAGE = PageRequest(1, 100)
MIGRATION = (
    Path(__file__).parents[2] / "src/dockyard/metadata/migrations/versions/20261210_0009_usage.py"
)


class Harness:
    def __init__(self, url: str, root: Path) -> None:
        self.db = Database(url)
        audit = AuditLog(self.db)
        self.tenancy = TenancyService(self.db, audit)
        self.content = ContentService(self.db, FilesystemBlobStore(root), timedelta(hours=1))
        self.usage = UsageService(self.db, audit)

    async def start(self) -> None:
        async with self.db.write() as session:
            account = Account(arn_id="1234567890123456", name="test")
            session.add(account)
            await session.flush()
            session.add(
                Instance(
                    id=INSTANCE,
                    account_id=account.id,
                    name="default",
                    region="local",
                    edition="Advanced",
                )
            )

    async def repository(self, name: str) -> RepositoryRef:
        return await self.tenancy.ensure_repository(INSTANCE, RepositoryName.parse(name))

    async def blob(self, repo: RepositoryRef, data: bytes, media_type: str = LAYER) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        await self.content.monolithic_upload(repo, digest, _body(data))
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    async def image(
        self, repo: RepositoryRef, tag: str, *layers: bytes, extra: list[dict] | None = None
    ) -> tuple[str, int, dict[str, int]]:
        """Push an image of ``layers`` (its config names the repository and ``tag``);
        (digest, logical size, digest → size of what it stores)."""
        config = json.dumps({"os": "linux", "repository": repo.full_name, "tag": tag}).encode()
        descriptors = [await self.blob(repo, config, mt.OCI_IMAGE_CONFIG)]
        descriptors += [await self.blob(repo, layer) for layer in layers]
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptors[0],
            "layers": descriptors[1:] + (extra or []),
        }
        body = json.dumps(manifest).encode()
        pushed = await self.content.put_manifest(repo, tag, body, mt.OCI_MANIFEST, "alice")
        stored = {d["digest"]: d["size"] for d in descriptors} | {pushed.digest: len(body)}
        logical = len(body) + sum(d["size"] for d in descriptors + (extra or []))
        return pushed.digest, logical, stored

    async def figures(self, namespace: str) -> tuple[int, int, int | None]:
        view = (await self.usage.namespace(INSTANCE, namespace, PAGE)).namespace
        return view.logical, view.deduplicated, view.quota

    async def recount(self) -> None:
        """The counters equal a recount from the manifests and their references."""
        async with self.db.read() as session:
            manifests = (
                await session.execute(
                    select(
                        Repository.namespace_id,
                        Manifest.id,
                        Manifest.digest,
                        Manifest.content,
                        Manifest.size,
                    ).join(Repository, Repository.id == Manifest.repository_id)
                )
            ).all()
            edges = (
                await session.execute(
                    select(
                        ManifestReference.manifest_id,
                        ManifestReference.digest,
                        ManifestReference.size,
                        ManifestReference.media_type,
                        ManifestReference.kind,
                    )
                )
            ).all()
            usage = {
                r[0]: (r[1], r[2])
                for r in await session.execute(
                    select(
                        NamespaceUsage.namespace_id,
                        NamespaceUsage.logical_bytes,
                        NamespaceUsage.unique_bytes,
                    )
                )
            }
            content = {
                (r[0], r[1]): (r[2], r[3])
                for r in await session.execute(
                    select(
                        NamespaceContent.namespace_id,
                        NamespaceContent.digest,
                        NamespaceContent.size,
                        NamespaceContent.manifests,
                    )
                )
            }
        namespace_of = {m[1]: m[0] for m in manifests}
        held: dict[Any, set[tuple[str, int]]] = defaultdict(set)
        logical: dict[Any, int] = defaultdict(int)
        for namespace_id, manifest_id, digest, body, size in manifests:
            held[manifest_id].add((digest, len(body)))
            logical[namespace_id] += size
        for manifest_id, digest, size, media_type, kind in edges:
            if kind != "manifest" and not mt.is_foreign(media_type):
                held[manifest_id].add((digest, size))
        expected: dict[tuple[Any, str], list[int]] = {}
        for manifest_id, items in held.items():
            for digest, size in items:
                entry = expected.setdefault((namespace_of[manifest_id], digest), [size, 0])
                entry[1] += 1
        assert content == {key: (s, n) for key, (s, n) in expected.items()}
        unique: dict[Any, int] = defaultdict(int)
        for (namespace_id, _), (size, _) in expected.items():
            unique[namespace_id] += size
        for namespace_id, (got_logical, got_unique) in usage.items():
            assert (got_logical, got_unique) == (logical[namespace_id], unique[namespace_id])


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def scenario(url: str, tmp_path: Path) -> Any:
    def run(steps: Any) -> None:
        async def main() -> None:
            h = Harness(url, tmp_path / "storage")
            try:
                await h.start()
                await steps(h)
                await h.recount()
            finally:
                await h.db.dispose()

        asyncio.run(main())

    return run


SHARED = b"shared base layer " * 500
OWN_A = b"layer of a " * 300
OWN_B = b"layer of b " * 200


def test_shared_layers_count_once_per_namespace_and_once_per_instance(url, tmp_path):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        b = await h.repository("team/b")
        other = await h.repository("other/c")
        _, logical_a, stored_a = await h.image(a, "v1", SHARED, OWN_A)
        _, logical_b, stored_b = await h.image(b, "v1", SHARED, OWN_B)
        _, logical_c, stored_c = await h.image(other, "v1", SHARED)
        team_unique = sum((stored_a | stored_b).values())
        assert team_unique == sum(stored_a.values()) + sum(stored_b.values()) - len(SHARED)
        assert await h.figures("team") == (logical_a + logical_b, team_unique, None)
        assert await h.figures("other") == (logical_c, sum(stored_c.values()), None)

        instance = await h.usage.instance(INSTANCE, PAGE)
        assert instance.logical == logical_a + logical_b + logical_c
        # the shared layer once across both namespaces
        assert instance.deduplicated == sum((stored_a | stored_b | stored_c).values())
        assert [n.name for n in instance.namespaces] == ["other", "team"]

        detail = await h.usage.namespace(INSTANCE, "team", PAGE)
        by_name = {r.name: r for r in detail.repositories}
        assert (by_name["a"].logical, by_name["a"].deduplicated) == (
            logical_a,
            sum(stored_a.values()),
        )
        assert by_name["b"].manifests == 1
        repo = await h.usage.repository(INSTANCE, "team", "b")
        assert (repo.logical, repo.deduplicated) == (logical_b, sum(stored_b.values()))

        explained = await h.usage.explain(INSTANCE, "team")
        assert explained.saved == logical_a + logical_b - team_unique
        assert explained.shared_bytes == len(SHARED)
        [shared] = explained.largest_shared
        assert (shared.size, shared.manifests, shared.repositories) == (len(SHARED), 2, ["a", "b"])
        assert any("once per namespace" in rule for rule in explained.rules)


def test_retags_and_repeated_pushes_do_not_count_twice_and_tag_deletes_change_nothing(
    url, tmp_path
):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        b = await h.repository("team/b")
        digest, logical, stored = await h.image(a, "v1", SHARED)
        view = await h.content.get_manifest(a, "v1")
        await h.content.put_manifest(a, "v2", view.content, view.media_type, "alice")
        await h.content.put_manifest(a, "v1", view.content, view.media_type, "alice")
        assert await h.figures("team") == (logical, sum(stored.values()), None)
        await h.content.delete_tag(a, "v2")
        assert await h.figures("team") == (logical, sum(stored.values()), None)
        # The same manifest in a second repository: pushed twice, stored once.
        for descriptor in [json.loads(view.content)["config"], *json.loads(view.content)["layers"]]:
            await h.content.mount(b, descriptor["digest"], a)
        await h.content.put_manifest(b, "v1", view.content, view.media_type, "alice")
        assert await h.figures("team") == (2 * logical, sum(stored.values()), None)
        await h.content.delete_manifest(a, digest)
        assert await h.figures("team") == (logical, sum(stored.values()), None)


def test_deletes_release_what_no_other_manifest_holds(url, tmp_path):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        b = await h.repository("team/b")
        digest_a, _, _ = await h.image(a, "v1", SHARED, OWN_A)
        _, logical_b, stored_b = await h.image(b, "v1", SHARED, OWN_B)
        await h.content.delete_manifest(a, digest_a)
        # the shared layer stays: b still holds it
        assert await h.figures("team") == (logical_b, sum(stored_b.values()), None)
        await h.recount()
        await h.tenancy.delete_repository(INSTANCE, "team", "b")
        assert await h.figures("team") == (0, 0, None)
        await h.recount()
        await h.image(a, "v2", SHARED)
        await h.tenancy.delete_namespace(INSTANCE, "team", force=True)
        async with h.db.read() as session:
            assert (await session.execute(select(NamespaceContent))).first() is None
            assert (await session.execute(select(NamespaceUsage))).first() is None


def test_retention_pruning_releases_the_manifests_it_deletes(url, tmp_path):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        old, _, stored_old = await h.image(a, "old", SHARED, OWN_A)
        _, logical_new, stored_new = await h.image(a, "new", SHARED, OWN_B)
        pruned = await h.content.prune_tags(a, [TagPointer("old", old, datetime.now(UTC))])
        assert pruned.manifests == (old,)
        assert await h.figures("team") == (logical_new, sum(stored_new.values()), None)
        assert set(stored_old) & set(stored_new) == {"sha256:" + hashlib.sha256(SHARED).hexdigest()}


def test_foreign_layers_count_as_pushed_but_not_as_stored(url, tmp_path):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        foreign = {"mediaType": FOREIGN, "digest": "sha256:" + "f" * 64, "size": 12345}
        _, logical, stored = await h.image(a, "v1", OWN_A, extra=[foreign])
        assert await h.figures("team") == (logical, sum(stored.values()), None)
        assert logical - sum(stored.values()) == 12345


def test_a_push_beyond_the_quota_is_refused_with_the_quota_and_the_usage(url, tmp_path):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        b = await h.repository("team/b")
        _, logical, stored = await h.image(a, "v1", SHARED)
        used = sum(stored.values())
        quota = used + len(OWN_A) // 2
        view = await h.usage.set_quota(INSTANCE, "team", quota, actor=ADMIN, resource="arn:ns")
        assert (view.quota, view.deduplicated) == (quota, used)

        # Upload completion: a new blob that does not fit is refused, its bytes dropped.
        digest = "sha256:" + hashlib.sha256(OWN_A).hexdigest()
        with pytest.raises(QuotaExceededError) as refused:
            await h.content.monolithic_upload(b, digest, _body(OWN_A))
        message = refused.value.message
        assert f"quota of {quota} bytes" in message and f"uses {used} bytes" in message
        state = await h.content.start_upload(b)
        await h.content.append(b, str(state.id), _body(OWN_A), 0)
        with pytest.raises(QuotaExceededError):
            await h.content.finish_upload(b, str(state.id), digest, None)
        # A blob the namespace already holds is no new usage: accepted.
        await h.blob(b, SHARED)

        # Manifest push: refused when it adds bytes; nothing of it is kept.
        with pytest.raises(QuotaExceededError) as refused:
            await h.image(b, "big", SHARED, b"x" * (len(OWN_A) // 2 + 1))
        assert "namespace team" in refused.value.message
        assert await h.figures("team") == (logical, used, quota)
        async with h.db.read() as session:
            count = select(Manifest.id).where(Manifest.repository_id == b.id)
            assert (await session.execute(count)).first() is None

        # A push that adds nothing stored is accepted even at the quota.
        view_a = await h.content.get_manifest(a, "v1")
        for d in [json.loads(view_a.content)["config"], *json.loads(view_a.content)["layers"]]:
            await h.content.mount(b, d["digest"], a)
        await h.content.put_manifest(b, "same", view_a.content, view_a.media_type, "alice")
        assert await h.figures("team") == (2 * logical, used, quota)

        # Cleared: the push goes through.
        await h.usage.set_quota(INSTANCE, "team", None, actor=ADMIN, resource="arn:ns")
        await h.image(b, "big", SHARED, b"x" * (len(OWN_A) // 2 + 1))
        async with h.db.read() as session:
            rows = (
                await session.execute(
                    select(AuditEvent.action, AuditEvent.resource).where(
                        AuditEvent.action == "cr:UpdateQuota"
                    )
                )
            ).all()
        assert [tuple(r) for r in rows] == [("cr:UpdateQuota", "arn:ns")] * 2


def test_concurrent_pushes_cannot_overshoot_the_quota(url, tmp_path):
    """Twelve pushes of distinct 10 kB layers at once into one namespace whose quota holds
    four such images but not five: whatever order the database serializes them in, exactly
    four are accepted, usage stays within the quota and counts each accepted image whole."""
    layer_size = 10_000

    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        repos = [await h.repository(f"team/r{i}") for i in range(3)]
        _, _, base = await h.image(repos[0], "base", b"base")
        # An image is its layer plus a config and a manifest of 350 to 600 bytes.
        quota = sum(base.values()) + 5 * (layer_size + 200)
        await h.usage.set_quota(INSTANCE, "team", quota, actor=ADMIN, resource="arn:ns")

        async def push(i: int) -> dict[str, int] | None:
            try:
                _, _, stored = await h.image(repos[i % 3], f"t{i}", bytes([i]) * layer_size)
            except QuotaExceededError:
                return None
            return stored

        outcomes = await asyncio.gather(*(push(i) for i in range(12)))
        accepted = [stored for stored in outcomes if stored is not None]
        logical, unique, _ = await h.figures("team")
        assert len(accepted) == 4
        assert unique <= quota
        assert unique == sum(base.values()) + sum(sum(s.values()) for s in accepted)
        for i, stored in enumerate(outcomes):
            if stored is not None:
                view = await h.content.get_manifest(repos[i % 3], f"t{i}")
                assert set(stored) == {view.digest} | {
                    d["digest"] for d in json.loads(view.content)["layers"]
                } | {json.loads(view.content)["config"]["digest"]}
        assert logical == unique  # nothing shared between the images


def test_the_migration_backfill_and_a_recount_count_existing_data_as_the_push_path_does(
    url, tmp_path
):
    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        b = await h.repository("team/b")
        other = await h.repository("other/c")
        foreign = {"mediaType": FOREIGN, "digest": "sha256:" + "e" * 64, "size": 99}
        await h.image(a, "v1", SHARED, OWN_A, extra=[foreign])
        await h.image(b, "v1", SHARED, OWN_B)
        await h.image(other, "v1", SHARED, SHARED)
        before = await h.figures("team"), await h.figures("other")
        spec = importlib.util.spec_from_file_location("usage_migration", MIGRATION)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        async with h.db.write() as session:
            await session.execute(delete(NamespaceContent))
            await session.execute(delete(NamespaceUsage))
            await session.execute(text(migration.BACKFILL_CONTENT))
            await session.execute(text(migration.BACKFILL_USAGE))
        assert (await h.figures("team"), await h.figures("other")) == before
        # A recount (what bulk seeding runs) agrees too.
        async with h.db.write() as session:
            await session.execute(delete(NamespaceContent))
            namespaces = (await session.execute(select(Namespace.id))).scalars().all()
            for namespace_id in namespaces:
                await usage_queries.recount_namespace(session, namespace_id)
        assert (await h.figures("team"), await h.figures("other")) == before


def test_concurrent_pushes_deletes_and_pruning_keep_the_counters_exact(url, tmp_path):
    """Pushes into two repositories sharing a layer (two tags moving from image to image in
    one), deletes by digest racing them, and retention pruning the other repository as it
    fills, all at once: every operation succeeds and the counters end equal to a recount,
    and again after the repository is deleted."""

    @scenario(url, tmp_path)
    async def steps(h: Harness) -> None:
        a = await h.repository("team/a")
        b = await h.repository("team/b")
        pushed_to_a: list[str] = []

        async def push(repo: RepositoryRef, i: int) -> None:
            # Into a, two tags move from image to image while deletes remove the images.
            tag = f"t{i % 2}" if repo is a else f"t{i}"
            digest, _, _ = await h.image(repo, tag, SHARED, f"{repo.full_name} {i}".encode())
            if repo is a:
                pushed_to_a.append(digest)

        async def delete_from_a() -> None:
            for _ in range(3):
                while not pushed_to_a:
                    await asyncio.sleep(0)
                await h.content.delete_manifest(a, pushed_to_a.pop(0))

        async def prune_b() -> None:
            for _ in range(4):
                tags = await h.content.tag_pointers(b)
                await h.content.prune_tags(b, tags[:2])
                await asyncio.sleep(0)

        await asyncio.gather(
            *(push(a, i) for i in range(6)),
            *(push(b, i) for i in range(6)),
            delete_from_a(),
            prune_b(),
        )
        await h.recount()
        await h.tenancy.delete_repository(INSTANCE, "team", "a")
        await h.recount()
