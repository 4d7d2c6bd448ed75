"""Logon policies: when (UTC time windows) and from where (source CIDRs) a user may sign in.

Pure functions, no I/O: :func:`logon_denial` decides whether a policy admits a sign-in from
an address at a moment, :func:`validate_logon_policy` checks and normalises a policy's
fields before they are stored (the logon-policy CRUD and the sign-in both use them).

Rules:

- ``time_windows``: ``[{"start": "HH:MM", "end": "HH:MM"}]`` in UTC, ``end`` exclusive. A
  window whose ``end`` is earlier than its ``start`` crosses midnight (``22:00``-``06:00``
  admits 23:30 and 05:59, not 06:00). ``end`` may be ``24:00`` (the end of the day).
  ``start == end`` is refused: it is ambiguous (empty or all day). An empty list admits any
  time; several windows admit the union.
- ``cidrs``: IPv4 or IPv6 networks (``10.0.0.0/8``, ``2001:db8::/32``; a bare address is a
  single host). An empty list admits any address. An IPv4-mapped IPv6 client address
  (``::ffff:10.1.2.3``) is matched as its IPv4 address.
- No policy (``None``) is the default policy: any time, any address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from dockyard.errors import InvalidInputError

MINUTES_PER_DAY = 24 * 60
MAX_TIME_WINDOWS = 64
MAX_CIDRS = 512

_HHMM = re.compile(r"^(\d{2}):(\d{2})$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class LogonPolicyLike(Protocol):
    """What the decision needs of a policy (the ``LogonPolicy`` row has both fields)."""

    @property
    def time_windows(self) -> Sequence[dict[str, str]]: ...

    @property
    def cidrs(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Minutes after midnight UTC; ``end`` exclusive; ``end < start`` crosses midnight."""

    start: int
    end: int

    def admits(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{_format_minutes(self.start)}-{_format_minutes(self.end)}"


def _format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_hhmm(value: object, field: str, *, allow_24: bool) -> int:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field}: expected a time as a string HH:MM (UTC)", detail={"field": field}
        )
    m = _HHMM.match(value.strip())
    if not m:
        raise InvalidInputError(
            f"{field}: {value!r} is not a time HH:MM (UTC)", detail={"field": field}
        )
    hours, minutes = int(m.group(1)), int(m.group(2))
    if allow_24 and hours == 24 and minutes == 0:
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise InvalidInputError(
            f"{field}: {value!r} is not a time of day (00:00-23:59)", detail={"field": field}
        )
    return hours * 60 + minutes


def parse_time_windows(windows: object, field: str = "timeWindows") -> list[TimeWindow]:
    """Parse and check windows; :class:`InvalidInputError` names the offending field."""
    if windows is None:
        return []
    if not isinstance(windows, list | tuple):
        raise InvalidInputError(
            f"{field}: expected a list of {{start, end}} objects", detail={"field": field}
        )
    if len(windows) > MAX_TIME_WINDOWS:
        raise InvalidInputError(
            f"{field}: at most {MAX_TIME_WINDOWS} time windows", detail={"field": field}
        )
    parsed: list[TimeWindow] = []
    for i, raw in enumerate(windows):
        where = f"{field}[{i}]"
        if not isinstance(raw, dict):
            raise InvalidInputError(
                f"{where}: expected an object {{start, end}}", detail={"field": where}
            )
        unknown = sorted(set(raw) - {"start", "end"})
        if unknown:
            raise InvalidInputError(
                f"{where}: unknown field(s) {', '.join(map(str, unknown))}",
                detail={"field": where},
            )
        for key in ("start", "end"):
            if key not in raw:
                raise InvalidInputError(
                    f"{where}.{key}: required", detail={"field": f"{where}.{key}"}
                )
        start = _parse_hhmm(raw["start"], f"{where}.start", allow_24=False)
        end = _parse_hhmm(raw["end"], f"{where}.end", allow_24=True)
        if end == MINUTES_PER_DAY and start == 0:
            pass  # 00:00-24:00: the whole day, explicitly
        elif start == end % MINUTES_PER_DAY:
            raise InvalidInputError(
                f"{where}.end: start and end are both {_format_minutes(start)}; a window needs "
                "two different times (end is exclusive)",
                detail={"field": f"{where}.end"},
            )
        parsed.append(TimeWindow(start, end))
    return parsed


def parse_cidrs(cidrs: object, field: str = "cidrs") -> list[IPNetwork]:
    """Parse and check source networks; host bits set are refused (``10.0.0.1/8``)."""
    if cidrs is None:
        return []
    if not isinstance(cidrs, list | tuple):
        raise InvalidInputError(f"{field}: expected a list of CIDRs", detail={"field": field})
    if len(cidrs) > MAX_CIDRS:
        raise InvalidInputError(f"{field}: at most {MAX_CIDRS} CIDRs", detail={"field": field})
    parsed: list[IPNetwork] = []
    for i, raw in enumerate(cidrs):
        where = f"{field}[{i}]"
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInputError(
                f"{where}: expected a CIDR such as 10.0.0.0/8", detail={"field": where}
            )
        try:
            parsed.append(ipaddress.ip_network(raw.strip(), strict=True))
        except ValueError as exc:
            raise InvalidInputError(
                f"{where}: {raw!r} is not an IPv4 or IPv6 CIDR ({exc})", detail={"field": where}
            ) from exc
    return parsed


def validate_logon_policy(
    time_windows: object, cidrs: object
) -> tuple[list[dict[str, str]], list[str]]:
    """Check a policy's fields and return them normalised for storage.

    Times become ``HH:MM``, networks their canonical form (``2001:DB8::/32`` →
    ``2001:db8::/32``). Raises :class:`InvalidInputError` naming the field
    (``timeWindows[1].start``, ``cidrs[0]``).
    """
    windows = parse_time_windows(time_windows)
    networks = parse_cidrs(cidrs)
    return (
        [{"start": _format_minutes(w.start), "end": _format_minutes(w.end)} for w in windows],
        [str(n) for n in networks],
    )


def parse_address(address: str | None) -> IPAddress | None:
    """The client address as an IP (IPv4-mapped IPv6 unwrapped); ``None`` if unparsable."""
    if not address:
        return None
    text = address.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    text = text.split("%", 1)[0]  # an IPv6 zone id
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _in_networks(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def logon_denial(policy: LogonPolicyLike | None, address: str | None, now: datetime) -> str | None:
    """``None`` if ``policy`` admits a sign-in from ``address`` at ``now``; else the reason.

    A stored policy is trusted to be valid, but a malformed one (edited by hand) denies
    rather than admits: the reason then says so.
    """
    if policy is None:
        return None
    try:
        windows = parse_time_windows(list(policy.time_windows or []))
        networks = parse_cidrs(list(policy.cidrs or []))
    except InvalidInputError as exc:
        return f"the logon policy is invalid ({exc.message})"
    if windows:
        utc = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
        minute = utc.hour * 60 + utc.minute
        if not any(w.admits(minute) for w in windows):
            allowed = ", ".join(str(w) for w in windows)
            return (
                f"sign-in is not allowed at {utc:%H:%M} UTC; the logon policy allows "
                f"{allowed} (UTC)"
            )
    if networks:
        ip = parse_address(address)
        if ip is None:
            return "sign-in is not allowed: the source address is unknown"
        if not _in_networks(ip, networks):
            return (
                f"sign-in is not allowed from {ip}: the address is outside the logon "
                "policy's networks"
            )
    return None


def admits(policy: LogonPolicyLike | None, address: str | None, now: datetime) -> bool:
    return logon_denial(policy, address, now) is None


def describe(policy: Any) -> dict[str, Any]:
    """A policy's rules for messages and audit detail (no secrets in a logon policy)."""
    return {
        "timeWindows": list(getattr(policy, "time_windows", None) or []),
        "cidrs": list(getattr(policy, "cidrs", None) or []),
    }
