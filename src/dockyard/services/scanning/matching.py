"""Which installed packages an OSV record affects, with each ecosystem's version order.

Version comparison is never ours: ``packaging`` orders PyPI (PEP 440) and ``univers``
orders Debian (dpkg), Alpine (apk), npm, Go and crates.io (semver), Maven and RubyGems.
A range is evaluated as the OSV schema says: events sorted by version, ``introduced``
opens an affected span, ``fixed`` closes it at that version, ``last_affected`` just after
it. ``GIT`` ranges name commits, not versions, and are not evaluated. A version that the
ecosystem cannot parse matches nothing (a finding must be certain).

Debian and Alpine advisories name *source* packages in a release's ecosystem
(``Debian:12``, ``Alpine:v3.19``): an installed OS package is matched by its source
package in the ecosystem its image's ``/etc/os-release`` names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from packaging.version import InvalidVersion
from packaging.version import Version as Pep440Version
from univers import versions as uv

from dockyard.services.scanning.osv import base_ecosystem, lookup_name


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...


def _semver(text: str) -> _Ordered:
    return uv.SemverVersion(text.removeprefix("v"))


def _go(text: str) -> _Ordered:
    """OSV writes Go module versions without the ``v`` that Go's own order expects."""
    return uv.GolangVersion(text if text.startswith("v") else f"v{text}")


#: OSV ecosystem (without its release suffix) -> how its versions parse into ordered values.
PARSERS: dict[str, Callable[[str], _Ordered]] = {
    "Debian": uv.DebianVersion,
    "Ubuntu": uv.DebianVersion,
    "Alpine": uv.AlpineLinuxVersion,
    "PyPI": Pep440Version,
    "npm": _semver,
    "Go": _go,
    "crates.io": _semver,
    "Maven": uv.MavenVersion,
    "RubyGems": uv.RubygemsVersion,
}
#: Package URL type -> OSV ecosystem for language packages (OS packages take their
#: ecosystem from the image's os-release).
PURL_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "cargo": "crates.io",
    "maven": "Maven",
    "gem": "RubyGems",
}
OS_PURL_TYPES = {"deb": "Debian", "apk": "Alpine"}


@dataclass(frozen=True, slots=True)
class InstalledPackage:
    """A package found in an image, as the matcher needs it."""

    name: str
    version: str
    #: The OSV ecosystem it is matched in (``PyPI``, ``Debian:12``); None: not matched.
    ecosystem: str | None
    #: The name advisories use: the source package for OS packages, else ``name``.
    advisory_name: str


@dataclass(frozen=True, slots=True)
class Finding:
    record_id: str
    package: str
    version: str
    ecosystem: str
    #: The lowest fixed version above the installed one; None: no fix known.
    fixed_version: str | None


def os_ecosystem(os_release: Mapping[str, str]) -> str | None:
    """``Debian:12`` / ``Alpine:v3.19`` from an os-release's ``ID`` and ``VERSION_ID``."""
    distro = os_release.get("ID", "").lower()
    version = os_release.get("VERSION_ID", "")
    if distro == "debian" and version:
        return f"Debian:{version.split('.')[0]}"
    if distro == "ubuntu" and version:
        return f"Ubuntu:{version}"
    if distro == "alpine" and version:
        return "Alpine:v" + ".".join(version.split(".")[:2])
    return None


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines, quotes removed."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            fields[key] = value.strip().strip("\"'")
    return fields


def ecosystem_of(purl_type: str, os_ecosystem_name: str | None) -> str | None:
    """The OSV ecosystem a package of this purl type is matched in; None: not matched."""
    if purl_type in PURL_ECOSYSTEMS:
        return PURL_ECOSYSTEMS[purl_type]
    family = OS_PURL_TYPES.get(purl_type)
    if family and os_ecosystem_name and base_ecosystem(os_ecosystem_name) in (family, "Ubuntu"):
        return os_ecosystem_name
    return None


@functools.lru_cache(maxsize=4096)
def parse_version(ecosystem: str, text: str) -> _Ordered | None:
    parser = PARSERS.get(base_ecosystem(ecosystem))
    if parser is None or not text:
        return None
    try:
        return parser(text)
    except (InvalidVersion, ValueError, TypeError, AttributeError):
        return None


def _in_range(
    ecosystem: str, installed: _Ordered, events: Sequence[Mapping[str, str]]
) -> tuple[bool, str | None]:
    """(affected, the first fixed version above ``installed``) for one range's events."""
    affected = False
    ordered: list[tuple[_Ordered, str, str]] = []
    for event in events:
        ((kind, value),) = event.items()
        if kind == "introduced" and value == "0":
            affected = True
            continue
        parsed = parse_version(ecosystem, value)
        if parsed is None:
            return False, None
        ordered.append((parsed, kind, value))
    ordered.sort(key=lambda item: item[0])
    fixed: str | None = None
    for version, kind, value in ordered:
        reached = not installed < version
        if kind == "introduced" and reached:
            affected = True
        elif (kind in ("fixed", "limit") and reached) or (
            kind == "last_affected" and version < installed
        ):
            affected = False
        if kind == "fixed" and fixed is None and not reached:
            fixed = value
    return affected, fixed if affected else None


def affects(
    affected_entry: Mapping[str, Any], ecosystem: str, version: str
) -> tuple[bool, str | None]:
    """Whether one ``affected`` entry of a record covers ``version`` (and its fix)."""
    if version in (affected_entry.get("versions") or ()):
        return True, _first_fix(affected_entry, ecosystem, version)
    installed = parse_version(ecosystem, version)
    if installed is None:
        return False, None
    for range_ in affected_entry.get("ranges") or ():
        if range_.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        hit, fixed = _in_range(ecosystem, installed, range_.get("events") or ())
        if hit:
            return True, fixed
    return False, None


def _first_fix(affected_entry: Mapping[str, Any], ecosystem: str, version: str) -> str | None:
    installed = parse_version(ecosystem, version)
    if installed is None:
        return None
    for range_ in affected_entry.get("ranges") or ():
        if range_.get("type") in ("ECOSYSTEM", "SEMVER"):
            _, fixed = _in_range(ecosystem, installed, range_.get("events") or ())
            if fixed:
                return fixed
    return None


def match_record(
    record_id: str, document: Mapping[str, Any], packages: Iterable[InstalledPackage]
) -> list[Finding]:
    """The findings of one record among ``packages``, one per affected package."""
    findings: list[Finding] = []
    for package in packages:
        if package.ecosystem is None:
            continue
        for entry in document.get("affected") or ():
            named = entry.get("package") or {}
            if named.get("ecosystem") != package.ecosystem or lookup_name(
                package.ecosystem, str(named.get("name", ""))
            ) != lookup_name(package.ecosystem, package.advisory_name):
                continue
            hit, fixed = affects(entry, package.ecosystem, package.version)
            if hit:
                findings.append(
                    Finding(record_id, package.name, package.version, package.ecosystem, fixed)
                )
                break
    return findings
