"""Drivers under test for the blob-store conformance suite.

Every ``BlobStore`` implementation must pass ``test_driver_suite.py``. To put a new driver
through it, write one factory below that returns a :class:`DriverHarness` and add its name
to ``DRIVERS``; nothing in the suite itself names a concrete driver.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.s3server import MotoServer, moto_server, s3_bucket, s3_store_config  # noqa: F401 - fixtures

from dockyard.storage.base import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore
from dockyard.storage.s3 import S3BlobStore, S3Config


@dataclass
class DriverHarness:
    """One driver plus the driver-specific hooks the suite needs."""

    name: str
    store: BlobStore
    #: A second store instance over the same backing storage: another worker or node.
    reopen: Callable[[], BlobStore]
    #: Whatever upload state the backend still holds (files, multipart uploads, ...):
    #: must be empty once every upload was committed or cancelled.
    leftover_uploads: Callable[[], list[str]]
    #: Anything the readiness probe left behind; must be empty after ``check()``.
    leftover_probes: Callable[[], list[str]]
    #: A well-formed upload key this backend never issued.
    unknown_key: str


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _filesystem(_request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DriverHarness]:
    root = tmp_path / "storage"
    yield DriverHarness(
        name="filesystem",
        store=FilesystemBlobStore(root),
        reopen=lambda: FilesystemBlobStore(root),
        leftover_uploads=lambda: _tree(root / "uploads"),
        leftover_probes=lambda: _tree(root / "probe"),
        unknown_key=secrets.token_hex(16),
    )


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DriverHarness]:
    server: MotoServer = request.getfixturevalue("moto_server")
    bucket = server.create_bucket()
    # The suite checks that a body without a local path is a redirect: presign on.
    config: S3Config = s3_store_config(
        server.endpoint_url, bucket, tmp_path / "spool", presign_redirects=True
    )
    client = server.client()

    def names(prefix: str) -> list[str]:
        found = [
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=config.prefix + prefix
            )
            for o in page.get("Contents", [])
        ]
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=config.prefix + prefix)
        found += [f"multipart:{u['Key']}" for u in uploads.get("Uploads", [])]
        return sorted(found)

    yield DriverHarness(
        name="s3",
        store=S3BlobStore(config),
        reopen=lambda: S3BlobStore(config),
        leftover_uploads=lambda: names("uploads/"),
        leftover_probes=lambda: names("probe/"),
        unknown_key=secrets.token_hex(16),
    )


#: name → factory(request, tmp_path) yielding a harness (a generator, so it can clean up).
_FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[DriverHarness]]] = {
    "filesystem": _filesystem,
    "s3": _s3,
}
DRIVERS = [pytest.param(name, id=name) for name in _FACTORIES]


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DriverHarness]:
    yield from _FACTORIES[request.param](request, tmp_path)


@pytest.fixture
def tiny_filesystem_store(tmp_path: Path) -> Iterator[FilesystemBlobStore]:
    """A FilesystemBlobStore on a 1 MiB tmpfs, to run out of space for real."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {result.stderr.strip()}")
    try:
        yield FilesystemBlobStore(mountpoint / "storage")
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", str(mountpoint)], check=True, capture_output=True)
