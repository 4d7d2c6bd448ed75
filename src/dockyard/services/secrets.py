"""The master key that encrypts secrets at rest (signing keys, later MFA seeds and keys).

It comes from DOCKYARD_SECRET_KEY, or from ``<data dir>/master.key`` created once with
mode 0600. Every worker and node must see the same key.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dockyard.errors import DockyardError

KEY_FILE = "master.key"


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise DockyardError("the master key must be 32 bytes")
        self._aead = AESGCM(key)
        self.raw = key

    @classmethod
    def load(cls, data_dir: Path, configured: str | None, *, create: bool) -> MasterKey:
        if configured:
            return cls(base64.urlsafe_b64decode(configured.encode()))
        path = data_dir / KEY_FILE
        if not path.exists():
            if not create:
                raise DockyardError(
                    f"the master key {path} is missing: every node needs the same key; copy "
                    "master.key from the data directory of a node that has served, or set "
                    "DOCKYARD_SECRET_KEY on every node"
                )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)))
                f.flush()
                os.fsync(f.fileno())
        return cls(base64.urlsafe_b64decode(path.read_bytes().strip()))

    def encrypt(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], purpose.encode())
