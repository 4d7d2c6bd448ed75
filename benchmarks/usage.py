"""What usage accounting costs a push, and what the alternative would cost (issue 18).

    .venv/bin/python -m benchmarks.usage [--database-url URL] [--images N] [--pushes N]

Seeds one namespace of 1000 repositories with ``--images`` manifests each (bulk seeding,
then its usage recount), and an empty namespace beside it; then times manifest pushes
(one new layer each) into both, through the content service. The counters make a push's
cost independent of what its namespace holds, so the two medians should agree. For
comparison it times the statement a design without counters would have to run under the
namespace lock at every push: the namespace's deduplicated bytes from the reference tables.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Uuid, bindparam, select, text

from dockyard.metadata import migrate
from dockyard.metadata.models import Account, Instance, Repository
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.reference import RepositoryName
from dockyard.services.audit import AuditLog
from dockyard.services.content import ContentService
from dockyard.services.content.bulk import BulkService
from dockyard.services.paging import PageRequest
from dockyard.services.tenancy import RepositoryRef, TenancyService
from dockyard.services.usage import UsageService
from dockyard.storage.filesystem import FilesystemBlobStore

INSTANCE = "default"
#: What a design without counters would run per push: the namespace's distinct bytes.
COMPUTED_UNIQUE = """
SELECT COALESCE(SUM(size), 0) FROM (
    SELECT m.digest AS digest, MAX(length(m.content)) AS size
    FROM manifests m JOIN repositories r ON r.id = m.repository_id
    WHERE r.namespace_id = :ns GROUP BY m.digest
    UNION
    SELECT mr.digest, MAX(mr.size)
    FROM manifest_references mr
    JOIN manifests m ON m.id = mr.manifest_id
    JOIN repositories r ON r.id = m.repository_id
    WHERE r.namespace_id = :ns AND mr.kind IN ('config', 'layer') GROUP BY mr.digest
) held
"""


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _push(content: ContentService, repo: RepositoryRef, n: int) -> float:
    """Seconds of one manifest PUT (its blobs uploaded first, not timed)."""
    descriptors = []
    for media_type, data in (
        (mt.OCI_IMAGE_CONFIG, json.dumps({"os": "linux", "n": n, "r": repo.full_name}).encode()),
        ("application/vnd.oci.image.layer.v1.tar", f"{repo.full_name} layer {n}".encode() * 64),
    ):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        await content.monolithic_upload(repo, digest, _body(data))
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptors[0],
            "layers": descriptors[1:],
        }
    ).encode()
    started = time.perf_counter()
    await content.put_manifest(repo, f"b{n}", body, mt.OCI_MANIFEST, "bench")
    return time.perf_counter() - started


async def run(url: str, root: Path, images: int, pushes: int) -> dict[str, Any]:
    db = Database(url)
    audit = AuditLog(db)
    tenancy = TenancyService(db, audit)
    content = ContentService(db, FilesystemBlobStore(root), timedelta(hours=1))
    usage = UsageService(db, audit)
    async with db.write() as session:
        account = Account(arn_id="1234567890123456", name="bench")
        session.add(account)
        await session.flush()
        session.add(
            Instance(
                id=INSTANCE, account_id=account.id, name="d", region="local", edition="Advanced"
            )
        )
    started = time.perf_counter()
    seeded = await BulkService(db, content, tenancy).seed(
        INSTANCE, repositories=1000, tags_per_repository=1, images=images, prefix="big"
    )
    seed_seconds = time.perf_counter() - started
    big = await tenancy.ensure_repository(INSTANCE, RepositoryName.parse("big0000/pushed"))
    small = await tenancy.ensure_repository(INSTANCE, RepositoryName.parse("small/pushed"))
    timings: dict[str, list[float]] = {"big": [], "small": []}
    for n in range(pushes):  # interleaved, each first in turn, so both see the same machine
        order = [("big", big), ("small", small)]
        for name, repo in order if n % 2 else order[::-1]:
            timings[name].append(await _push(content, repo, n))
    async with db.read() as session:
        stmt = select(Repository.namespace_id).where(Repository.id == big.id)
        ns = (await session.execute(stmt)).scalar_one()
    query = text(COMPUTED_UNIQUE).bindparams(bindparam("ns", type_=Uuid))
    computed = []
    for _ in range(5):
        async with db.read() as session:
            t0 = time.perf_counter()
            await session.execute(query, {"ns": ns})
            computed.append(time.perf_counter() - t0)
    reads = {}
    for name, call in (
        ("namespace_read", lambda: usage.namespace(INSTANCE, "big0000", PageRequest(1, 30))),
        ("instance_read", lambda: usage.instance(INSTANCE, PageRequest(1, 30))),
        ("explain_read", lambda: usage.explain(INSTANCE, "big0000")),
    ):
        t0 = time.perf_counter()
        await call()
        reads[name] = round((time.perf_counter() - t0) * 1000, 2)
    await db.dispose()
    ms = lambda xs: round(statistics.median(xs) * 1000, 2)  # noqa: E731
    return {
        "database": url.split(":")[0],
        "namespace_manifests": seeded.manifests,
        "seed_seconds_with_recount": round(seed_seconds, 1),
        "push_ms_median_big_namespace": ms(timings["big"]),
        "push_ms_median_empty_namespace": ms(timings["small"]),
        "computed_unique_ms_median": ms(computed),
        **{f"{k}_ms": v for k, v in reads.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--images", type=int, default=20, help="manifests per repository")
    parser.add_argument("--pushes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        result = asyncio.run(run(url, Path(tmp) / "blobs", args.images, args.pushes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
