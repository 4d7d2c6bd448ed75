"""Which names, types, texts and endpoints tenancy accepts (pure checks, no I/O)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from dockyard.errors import InvalidInputError
from dockyard.oci.reference import (
    OCI_COMPONENT_RE,
    RepositoryName,
    check_new_namespace,
    check_new_repository,
)
from dockyard.services.tenancy.views import AllowlistEntry, Endpoint

NETWORK_TYPES = ("vpc", "public", "classic")
REPOSITORY_TYPES = ("private", "public")
TAG_MUTABILITIES = ("Flexible", "Immutable")
SUMMARY_MAX = 100
DESCRIPTION_MAX = 2000
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def one_of(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise InvalidInputError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def check_new_name(name: RepositoryName) -> None:
    """A repository about to be created (with its namespace, when that is new too): every
    creating entry point asks this, so all refuse a name outside the grammar the same way."""
    check_new_namespace(name.namespace)
    check_new_repository(name.repository)


def conforms(stored: str) -> bool:
    """Whether a stored namespace or repository (full) name is inside the OCI grammar; one
    stored before the grammar was enforced may not be, and stays usable."""
    return all(OCI_COMPONENT_RE.fullmatch(part) for part in stored.split("/"))


def check_texts(summary: str | None, description: str | None) -> None:
    if summary is not None and len(summary) > SUMMARY_MAX:
        raise InvalidInputError(f"summary is at most {SUMMARY_MAX} characters")
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise InvalidInputError(f"description is at most {DESCRIPTION_MAX} characters")


def normalize_endpoints(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """Validated endpoints: one per network type, lowercase domains, canonical CIDRs."""
    seen_types: set[str] = set()
    seen_domains: set[str] = set()
    out = []
    for endpoint in endpoints:
        one_of(endpoint.network_type, NETWORK_TYPES, "network type")
        if endpoint.network_type in seen_types:
            raise InvalidInputError(f"more than one {endpoint.network_type} endpoint")
        seen_types.add(endpoint.network_type)
        domain = endpoint.domain.lower().rstrip(".")
        if not DOMAIN_RE.fullmatch(domain):
            raise InvalidInputError(f"invalid endpoint domain {endpoint.domain!r}")
        if domain in seen_domains:
            raise InvalidInputError(f"domain {domain} is given twice")
        seen_domains.add(domain)
        entries: dict[str, AllowlistEntry] = {}
        for entry in endpoint.allowlist:
            try:
                cidr = str(ipaddress.ip_network(entry.cidr.strip(), strict=False))
            except ValueError:
                raise InvalidInputError(f"invalid CIDR {entry.cidr!r}") from None
            entries.setdefault(cidr, AllowlistEntry(cidr, entry.description))
        out.append(
            Endpoint(
                endpoint.network_type,
                domain,
                endpoint.enabled,
                tuple(sorted(entries.values(), key=lambda e: e.cidr)),
            )
        )
    return tuple(sorted(out, key=lambda e: e.network_type))


def check_instance_fields(name: str | None, region: str | None) -> None:
    if name is not None and not (1 <= len(name.strip()) <= 128 and name.isprintable()):
        raise InvalidInputError("instance name is 1-128 printable characters")
    if region is not None and not REGION_RE.fullmatch(region):
        raise InvalidInputError(
            f"invalid region {region!r}: 1-64 of a-z, 0-9 and '-', starting with a letter or digit"
        )
