"""What a quota is and how usage reads: byte sizes in binary units, and the refusal."""

from __future__ import annotations

import re

from dockyard.errors import InvalidInputError, LimitExceededError

#: Largest quota accepted: what a signed 64-bit column holds.
MAX_QUOTA = 2**63 - 1
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human(size: int) -> str:
    """``size`` in the largest binary unit that keeps it ≥ 1, one decimal (``1.5 GiB``)."""
    if size < 1024:
        return f"{size} B"
    value, unit = float(size), "B"
    for larger in _UNITS:
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


def exact(size: int) -> str:
    """Both forms: ``10737418240 bytes (10.0 GiB)``."""
    return f"{size} bytes ({human(size)})"


#: Multipliers of the units a quota may be written in, by lower-case name.
UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
SIZE_HELP = (
    "Bytes: a plain number (10737418240), or with a unit: KiB, MiB, GiB, TiB (powers of "
    "1024; K, M, G, T too) or kB, MB, GB, TB (powers of 1000), e.g. 10GiB; 'none' clears it."
)


def read_size(text: str) -> int | None:
    """A quota as people write it (see ``SIZE_HELP``) in bytes; None for ``none``."""
    if text.strip().lower() == "none":
        return None
    match = _SIZE.match(text)
    unit = match[2].lower() if match else ""
    if match is None or unit not in UNITS:
        raise InvalidInputError(f"not a size: {text!r} ({SIZE_HELP})")
    return round(float(match[1]) * UNITS[unit])


def check_quota(quota: int | None) -> int | None:
    if quota is not None and not 0 <= quota <= MAX_QUOTA:
        raise InvalidInputError(f"a quota is a number of bytes from 0 to {MAX_QUOTA}")
    return quota


class QuotaExceededError(LimitExceededError):
    """A push would take its namespace's deduplicated usage beyond the namespace's quota."""

    def __init__(self, namespace: str, quota: int, usage: int, adding: int) -> None:
        super().__init__(
            f"storage quota exceeded: namespace {namespace} has a quota of {exact(quota)} "
            f"and uses {exact(usage)}; this push would add {exact(adding)}",
            detail={"namespace": namespace, "quota": quota, "usage": usage, "adding": adding},
        )
