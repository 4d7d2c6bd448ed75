"""What a quota is and how usage reads: byte sizes in binary units, and the refusal."""

from __future__ import annotations

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
