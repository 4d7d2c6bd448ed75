"""Byte sizes as people write them (``10GiB``, ``500MB``, ``10737418240``): shared by the
CLI, which must not load the services to parse an argument, and the console's quota form."""

from __future__ import annotations

import re

from dockyard.errors import InvalidInputError

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
