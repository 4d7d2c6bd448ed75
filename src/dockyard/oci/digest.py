"""Digest parsing and incremental hashing for the algorithms Dockyard accepts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidInputError

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)$")
SUPPORTED_ALGORITHMS = tuple(_HEX_LENGTH)


class DigestError(InvalidInputError):
    """A string is not a digest Dockyard can verify."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> Digest:
        match = _DIGEST_RE.fullmatch(value)
        if match is None:
            raise DigestError(f"invalid digest {value!r}")
        algorithm, hexpart = match["alg"], match["hex"]
        expected = _HEX_LENGTH.get(algorithm)
        if expected is None:
            raise DigestError(f"unsupported digest algorithm {algorithm!r}; use sha256 or sha512")
        if len(hexpart) != expected or not re.fullmatch(r"[0-9a-f]+", hexpart):
            raise DigestError(f"invalid {algorithm} digest {value!r}")
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def is_digest(reference: str) -> bool:
    """A manifest reference is a digest when it has a colon (tags cannot)."""
    return ":" in reference
