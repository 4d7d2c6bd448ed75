"""What a trigger may be (PRODUCT.md §7), which tags fire it, and how its URL is shown.

Every refusal is an :class:`~dockyard.errors.InvalidInputError` whose message names the
rule broken, so a caller can fix the request without reading the docs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlsplit, urlunsplit

from dockyard.errors import InvalidInputError
from dockyard.oci.reference import TAG_RE

Mode = Literal["every", "expression", "tags"]
MODES: tuple[Mode, ...] = ("every", "expression", "tags")
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_URL_CHARS = 2048
MAX_EXPRESSION_CHARS = 512
MAX_TAGS = 10
#: The ports an ``http`` URL may name besides 1025-65535 (§7).
HTTP_PORTS = (21, 70, 80, 210, 280, 443, 488, 591, 777)
HTTP_RULE = (
    "an http URL uses port 80, or one of 21, 70, 80, 210, 280, 443, 488, 591, 777, or 1025-65535"
)
HTTPS_RULE = "an https URL uses port 443 only (for another port, use http)"
MASK = "***"


@dataclass(frozen=True, slots=True)
class MatchRule:
    """Which pushed tags fire a trigger."""

    mode: Mode
    expression: str | None = None
    tags: tuple[str, ...] = ()

    def refusal(self, tag: str) -> str | None:
        """None when ``tag`` fires the trigger, else why not, in words."""
        if self.mode == "expression":
            assert self.expression is not None
            if re.match(self.expression, tag) is None:
                return f'tag "{tag}" does not match "{self.expression}"'
        elif self.mode == "tags" and tag not in self.tags:
            return f'tag "{tag}" is not one of {", ".join(self.tags)}'
        return None


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidInputError(f"invalid trigger name {name!r}: 1-64 letters, digits, '-' or '_'")
    return name


def check_url(url: str) -> str:
    """The URL rules of §7: http on port 80, a listed port or 1025-65535; https on 443."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidInputError(f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInputError("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise InvalidInputError(f"the URL cannot be parsed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}:" if scheme else "none"
        raise InvalidInputError(f"only http and https URLs are accepted (scheme: {shown})")
    if not hostname:
        raise InvalidInputError("the URL names no host")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInputError("the URL's port is not a number from 1 to 65535") from None
    if scheme == "https" and port not in (None, 443):
        raise InvalidInputError(f"{HTTPS_RULE}; got port {port}")
    if scheme == "http" and not (port is None or port in HTTP_PORTS or 1025 <= port <= 65535):
        raise InvalidInputError(f"{HTTP_RULE}; got port {port}")
    return url


def check_match_rule(mode: str, expression: str | None, tags: Sequence[str] | None) -> MatchRule:
    """The mode with exactly the setting it needs: a valid regex, or 1-10 valid tags."""
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if expression is not None and mode != "expression":
        raise InvalidInputError("an expression is given only with mode expression")
    if tags is not None and mode != "tags":
        raise InvalidInputError("tags are given only with mode tags")
    if mode == "expression":
        return MatchRule("expression", expression=_check_expression(expression))
    if mode == "tags":
        return MatchRule("tags", tags=_check_tags(tags or ()))
    return MatchRule(cast(Mode, mode))


def _check_expression(expression: str | None) -> str:
    if not expression:
        raise InvalidInputError("mode expression needs an expression (a regular expression)")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise InvalidInputError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        re.compile(expression)
    except re.error as exc:
        raise InvalidInputError(
            f"invalid regular expression {expression!r}: {exc.msg} at position {exc.pos}"
        ) from None
    return expression


def _check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(tags))
    if not 1 <= len(unique) <= MAX_TAGS:
        raise InvalidInputError(f"mode tags needs 1 to {MAX_TAGS} tags (got {len(unique)})")
    for tag in unique:
        if not TAG_RE.fullmatch(tag):
            raise InvalidInputError(
                f"invalid tag {tag!r}: up to 128 letters, digits, '_', '.' or '-', "
                "not starting with '.' or '-'"
            )
    return unique


def mask_url(url: str) -> str:
    """The URL with its query string (and any password) replaced by ``***``: what a reader
    without cr:UpdateWebHook sees, since deploy hooks carry tokens there."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username}:{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
