"""Reading OSV records (https://ossf.github.io/osv-schema/): validation, severity, and the
packages a record names.

A record is checked whole before anything is stored, so one bad record refuses its whole
import (nothing half-imported). Severity comes from the record's CVSS vector (the ``cvss``
library computes the base score; the highest of the vectors given wins) or, without a
vector, from a ``database_specific``/``ecosystem_specific`` severity word.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cvss
from cvss.exceptions import CVSSError

from dockyard.errors import InvalidInputError

CRITICAL = "CRITICAL"
HIGH = "HIGH"
MEDIUM = "MEDIUM"
LOW = "LOW"
UNKNOWN = "UNKNOWN"
#: Least to most severe: a severity's index is its rank.
SEVERITIES = (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)
#: Severity words databases use beside the CVSS names (GitHub says MODERATE).
_WORDS = {
    "CRITICAL": CRITICAL,
    "HIGH": HIGH,
    "IMPORTANT": HIGH,
    "MODERATE": MEDIUM,
    "MEDIUM": MEDIUM,
    "LOW": LOW,
    "NEGLIGIBLE": LOW,
}
_EVENT_KINDS = frozenset({"introduced", "fixed", "last_affected", "limit"})
MAX_ID = 200
MAX_NAME = 400


@dataclass(frozen=True, slots=True)
class OsvRecord:
    """One validated record and what the database indexes of it."""

    id: str
    modified: str
    summary: str
    aliases: tuple[str, ...]
    severity: str
    score: float | None
    #: (ecosystem as the record spells it, package name as matching looks it up).
    packages: tuple[tuple[str, str], ...]
    document: Mapping[str, Any]


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def check_severity(word: str) -> str:
    name = word.upper()
    if name not in SEVERITIES:
        raise InvalidInputError(f"severity is one of {', '.join(SEVERITIES[1:])}, got {word!r}")
    return name


def _band(score: float) -> str:
    """CVSS v3/v4 qualitative bands, also applied to v2 scores (v2 names none)."""
    if score >= 9.0:
        return CRITICAL
    if score >= 7.0:
        return HIGH
    if score >= 4.0:
        return MEDIUM
    if score > 0.0:
        return LOW
    return UNKNOWN


def _vector_score(kind: str, vector: str) -> float | None:
    try:
        if kind == "CVSS_V4":
            return float(cvss.CVSS4(vector).base_score)
        if kind == "CVSS_V3":
            return float(cvss.CVSS3(vector).scores()[0])
        if kind == "CVSS_V2":
            return float(cvss.CVSS2(vector).scores()[0])
    except CVSSError:
        return None
    return None


def _worded_severity(document: Mapping[str, Any]) -> str:
    """The most severe severity word of the record or its affected entries."""
    places: list[Any] = [document.get("database_specific")]
    for affected in document.get("affected") or ():
        if isinstance(affected, Mapping):
            places += [affected.get("database_specific"), affected.get("ecosystem_specific")]
    found = UNKNOWN
    for place in places:
        if isinstance(place, Mapping) and isinstance(place.get("severity"), str):
            word = _WORDS.get(place["severity"].upper(), UNKNOWN)
            found = max(found, word, key=severity_rank)
    return found


def severity_of(document: Mapping[str, Any]) -> tuple[str, float | None]:
    """(severity, score): the highest CVSS base score among the vectors, else the word."""
    scores = [
        score
        for entry in document.get("severity") or ()
        if isinstance(entry, Mapping)
        and (score := _vector_score(str(entry.get("type")), str(entry.get("score")))) is not None
    ]
    if scores:
        best = max(scores)
        return _band(best), best
    return _worded_severity(document), None


def _text(document: Mapping[str, Any], key: str, where: str, limit: int = 10_000) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInputError(f"{where}: {key!r} must be a non-empty string")
    return value


def _check_ranges(affected: Mapping[str, Any], where: str) -> None:
    for range_ in affected.get("ranges") or ():
        if not isinstance(range_, Mapping) or not isinstance(range_.get("events"), list):
            raise InvalidInputError(f"{where}: a range needs a list of events")
        for event in range_["events"]:
            if (
                not isinstance(event, Mapping)
                or len(event) != 1
                or not set(event) <= _EVENT_KINDS
                or not isinstance(next(iter(event.values())), str)
            ):
                raise InvalidInputError(f"{where}: bad range event {event!r}")
    versions = affected.get("versions") or []
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise InvalidInputError(f"{where}: 'versions' must be a list of strings")


def _packages(document: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    affected_list = document.get("affected") or []
    if not isinstance(affected_list, list):
        raise InvalidInputError(f"{where}: 'affected' must be a list")
    for affected in affected_list:
        package = affected.get("package") if isinstance(affected, Mapping) else None
        if not isinstance(package, Mapping):
            raise InvalidInputError(f"{where}: every affected entry needs a package")
        ecosystem = _text(package, "ecosystem", where, 100)
        name = _text(package, "name", where, MAX_NAME)
        _check_ranges(affected, where)
        yield ecosystem, lookup_name(ecosystem, name)


def lookup_name(ecosystem: str, name: str) -> str:
    """The name the database indexes and looks up: PyPI names are compared normalized
    (PEP 503), every other ecosystem's as written."""
    if base_ecosystem(ecosystem) == "PyPI":
        from packaging.utils import canonicalize_name

        return str(canonicalize_name(name))
    return name


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` -> ``Debian``."""
    return ecosystem.split(":", 1)[0]


def parse_record(document: Any, where: str) -> OsvRecord:
    """A validated record; :class:`InvalidInputError` naming ``where`` if it is not one."""
    if not isinstance(document, Mapping):
        raise InvalidInputError(f"{where}: an OSV record is a JSON object")
    record_id = _text(document, "id", where, MAX_ID)
    modified = _text(document, "modified", where, 64)
    aliases = document.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InvalidInputError(f"{where}: 'aliases' must be a list of strings")
    summary = document.get("summary") or document.get("details") or ""
    if not isinstance(summary, str):
        raise InvalidInputError(f"{where}: 'summary' must be a string")
    severity, score = severity_of(document)
    packages = tuple(dict.fromkeys(_packages(document, f"{where} ({record_id})")))
    return OsvRecord(
        record_id,
        modified,
        summary.strip().splitlines()[0][:500] if summary.strip() else "",
        tuple(aliases),
        severity,
        score,
        packages,
        document,
    )
