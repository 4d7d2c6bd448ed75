"""What ``/metrics`` reads from the database at scrape time, on SQLite and PostgreSQL, and
the blob store's failure counter."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.clock import ManualClock
from dockyard.metadata.models import Account, Blob, Instance, Job, OutboxEvent, PullLease
from dockyard.metadata.session import Database
from dockyard.metrics.instruments import LOCAL_REGISTRY
from dockyard.metrics.storage import CountingBlobStore
from dockyard.oci.digest import Digest
from dockyard.services.observability import ObservabilityService
from dockyard.storage import StorageError, UploadMissingError
from dockyard.storage.filesystem import FilesystemBlobStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _job(kind: str, state: str, age: timedelta) -> Job:
    return Job(kind=kind, payload={}, state=state, run_after=NOW, created_at=NOW - age)


def test_snapshot_counts_and_ages(url: str) -> None:
    async def scenario() -> None:
        db = Database(url)
        try:
            service = ObservabilityService(db, ManualClock(NOW))
            empty = await service.snapshot()
            assert (empty.blobs, empty.manifests, empty.jobs) == (0, 0, {})
            assert (empty.outbox_lag_seconds, empty.pulling_clients) == (0.0, {})

            async with db.write() as session:
                account = Account(arn_id="1234567890123456", name="test")
                session.add(account)
                await session.flush()
                for instance in ("default", "cri-other"):
                    session.add(
                        Instance(
                            id=instance,
                            account_id=account.id,
                            name=instance,
                            region="local",
                            edition="Advanced",
                        )
                    )
                await session.flush()
                session.add_all(
                    [Blob(digest=f"sha256:{n:064x}", size=n, created_at=NOW) for n in range(3)]
                )
                session.add_all(
                    [
                        _job("gc", "waiting", timedelta(seconds=30)),
                        _job("gc", "running", timedelta(seconds=90)),
                        _job("gc", "failed", timedelta(days=3)),  # not pending: no age
                        _job("scan", "waiting", timedelta(seconds=5)),
                    ]
                )
                session.add_all(
                    [
                        OutboxEvent(
                            instance_id="default",
                            type="push",
                            payload={},
                            created_at=NOW - timedelta(seconds=40),
                            published_at=NOW,  # published: no lag
                        ),
                        OutboxEvent(
                            instance_id="default",
                            type="push",
                            payload={},
                            created_at=NOW - timedelta(seconds=12),
                        ),
                    ]
                )
                live, gone = NOW + timedelta(seconds=20), NOW - timedelta(seconds=1)
                session.add_all(
                    [
                        PullLease(instance_id="default", address="10.0.0.1", expires_at=live),
                        PullLease(instance_id="default", address="10.0.0.1", expires_at=live),
                        PullLease(instance_id="default", address="10.0.0.2", expires_at=live),
                        PullLease(instance_id="default", address="10.0.0.3", expires_at=gone),
                        PullLease(instance_id="cri-other", address="10.0.0.9", expires_at=gone),
                    ]
                )

            snap = await service.snapshot()
            assert (snap.blobs, snap.manifests) == (3, 0)
            assert snap.jobs == {
                ("gc", "waiting"): 1,
                ("gc", "running"): 1,
                ("gc", "failed"): 1,
                ("scan", "waiting"): 1,
            }
            assert snap.oldest_job_age_seconds == {"gc": 90.0, "scan": 5.0}
            assert snap.outbox_lag_seconds == 12.0
            # Two distinct addresses hold live leases; expired leases hold no slot.
            assert snap.pulling_clients == {"default": 2}
        finally:
            await db.dispose()

    asyncio.run(scenario())


def _errors(operation: str) -> float:
    value = LOCAL_REGISTRY.get_sample_value(
        "dockyard_storage_errors_total", {"operation": operation}
    )
    return value or 0.0


def test_store_failures_are_counted_and_clients_mistakes_are_not(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = CountingBlobStore(FilesystemBlobStore(tmp_path / "storage"))
        missing = Digest.parse("sha256:" + "0" * 64)
        body, read, size = _errors("body"), _errors("read"), _errors("upload_size")

        with pytest.raises(StorageError):
            await store.body(missing)
        with pytest.raises(StorageError):
            async for _ in store.open_stream(missing):
                pass
        with pytest.raises(UploadMissingError):
            await store.upload_size(uuid.uuid4().hex)

        assert _errors("body") == body + 1
        assert _errors("read") == read + 1
        assert _errors("upload_size") == size  # an unknown upload is the client's mistake

    asyncio.run(scenario())
