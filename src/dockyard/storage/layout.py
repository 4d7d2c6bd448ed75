"""On-disk layout of the filesystem driver, written down in one place.

    <root>/blobs/<algorithm>/<first two hex>/<hex>   committed blob bytes, immutable
    <root>/uploads/<key>                             bytes of an upload in progress
    <root>/probe/                                    readiness probe files

A blob file appears only by an atomic rename of a complete, fsynced upload file, so a
reader never sees partial bytes. Whether a blob is *visible* to anyone is decided by the
database, not by the presence of the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from dockyard.oci.digest import Digest

UPLOAD_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


def blobs_dir(root: Path) -> Path:
    """Where committed blobs live; ``dockyard nginx-config`` maps nginx onto it."""
    return root / "blobs"


def blob_path(root: Path, digest: Digest) -> Path:
    return blobs_dir(root) / digest.algorithm / digest.hex[:2] / digest.hex


def upload_path(root: Path, key: str) -> Path:
    if not UPLOAD_KEY_RE.match(key):
        raise ValueError(f"invalid upload key {key!r}")
    return root / "uploads" / key


def uploads_dir(root: Path) -> Path:
    return root / "uploads"
