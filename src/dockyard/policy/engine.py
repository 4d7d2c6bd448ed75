"""Evaluate RAM-style JSON policies: pure, no I/O.

A document (PRODUCT.md §3)::

    {"Version": "1",
     "Statement": [{"Effect": "Allow" | "Deny", "Action": ..., "Resource": ...}, ...]}

Validation (``PolicyDocument.parse`` raises ``PolicyError``, an ``InvalidInputError`` whose
message names the statement and the field):

* ``Version`` is the string ``"1"``; ``Statement`` is a non-empty list of objects.
* ``Effect`` is ``"Allow"`` or ``"Deny"`` (exactly: case matters).
* ``Action`` and ``Resource`` are a non-empty string or a non-empty list of non-empty
  strings.
* An action is ``*`` or looks like ``service:Name``: letters and digits (and ``-`` in the
  service), with ``*`` wildcards anywhere (``cr:*``, ``cr:Get*``, ``*:List*``).
* **(design)** Unknown keys are rejected, at the top level (only ``Version`` and
  ``Statement``) and in statements (only ``Effect``, ``Action`` and ``Resource``). This
  engine knows no ``Condition``, ``NotAction``, ``NotResource`` or ``Sid``: silently
  ignoring a ``Condition`` would grant more than its author meant, and a misspelt key
  (``"Actions"``) would otherwise go unnoticed.

Matching (PRODUCT.md §3): ``*`` matches any run of characters, including ``/`` and ``:``;
``?`` and every other character is literal; actions compare case-insensitively, resources
case-sensitively. A request on the resource ``*`` (list and create operations) is matched
only by a pattern that matches the literal ``*`` (``*`` itself, ``**``): that falls out of
plain matching, since the request resource is just the string ``*``. An explicit Deny beats
any Allow, and no matching Allow means denied.

Speed: patterns are compiled once, when a document is parsed (and shared between documents
through a small cache), never per request. A statement's patterns are one regular expression
per field; ``*`` alone and patterns without a wildcard skip the regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

from dockyard.errors import InvalidInputError


class PolicyError(InvalidInputError):
    """A policy document is malformed."""


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


# -- glob patterns --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Globs:
    """A compiled set of glob patterns (``*`` is the only wildcard).

    Case-insensitive sets hold lower-cased patterns: callers lower-case the value once
    (``evaluate`` does it per request, not per statement).
    """

    patterns: tuple[str, ...]
    anything: bool
    exact: frozenset[str]
    regex: re.Pattern[str] | None

    def match(self, value: str) -> bool:
        if self.anything or value in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(value) is not None

    def first_match(self, value: str) -> str | None:
        """The first pattern that matches ``value`` (for explanations; not on the hot path)."""
        for pattern in self.patterns:
            if compile_globs((pattern,)).match(value):
                return pattern
        return None


def _glob_regex(pattern: str) -> str:
    return ".*".join(re.escape(part) for part in pattern.split("*"))


@lru_cache(maxsize=8192)
def compile_globs(patterns: tuple[str, ...]) -> Globs:
    """Compile glob ``patterns`` (as given: lower-case them first for a case-insensitive set)."""
    anything = any(p and not p.strip("*") for p in patterns)
    exact = frozenset(p for p in patterns if "*" not in p)
    wild = [p for p in patterns if "*" in p and p.strip("*")]
    regex = None
    if wild and not anything:
        regex = re.compile("|".join(f"(?:{_glob_regex(p)})" for p in wild), re.DOTALL)
    return Globs(patterns, anything, exact, regex)


def glob_match(pattern: str, value: str) -> bool:
    """Case-sensitive match of one glob ``pattern`` against ``value``."""
    return compile_globs((pattern,)).match(value)


# -- documents ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    _actions: Globs = field(init=False, repr=False, compare=False)
    _resources: Globs = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_actions", compile_globs(tuple(a.lower() for a in self.actions)))
        object.__setattr__(self, "_resources", compile_globs(self.resources))

    def matches(self, action_lower: str, resource: str) -> bool:
        """Whether the statement applies; ``action_lower`` is the lower-cased action."""
        return self._actions.match(action_lower) and self._resources.match(resource)

    def matched_patterns(self, action: str, resource: str) -> tuple[str | None, str | None]:
        """The Action and Resource patterns (as written) that match the request."""
        lowered = action.lower()
        found = next((a for a in self.actions if glob_match(a.lower(), lowered)), None)
        return found, self._resources.first_match(resource)


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: Any) -> PolicyDocument:
        if not isinstance(document, dict):
            raise PolicyError("policy must be a JSON object")
        _no_unknown_keys(document, _DOCUMENT_KEYS, "policy")
        if document.get("Version") != "1":
            raise PolicyError('policy Version must be "1"')
        raw = document.get("Statement")
        if not isinstance(raw, list) or not raw:
            raise PolicyError("policy Statement must be a non-empty list")
        return cls(name, tuple(_statement(s, i) for i, s in enumerate(raw)))


_DOCUMENT_KEYS = ("Version", "Statement")
_STATEMENT_KEYS = ("Effect", "Action", "Resource")
_ACTION = re.compile(r"\*+|[A-Za-z0-9*-]+:[A-Za-z0-9*]+")


def _no_unknown_keys(obj: dict[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        names = ", ".join(repr(str(k)) for k in unknown)
        raise PolicyError(
            f"{where} has unknown key(s) {names}; allowed: {', '.join(allowed)}"
            " (Condition, NotAction, NotResource and Sid are not supported)"
        )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"{where} must be a non-empty string or list of non-empty strings")
    return tuple(items)


def _statement(raw: Any, index: int) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be an object")
    _no_unknown_keys(raw, _STATEMENT_KEYS, where)
    try:
        effect = Effect(raw.get("Effect"))
    except ValueError as exc:
        raise PolicyError(f'{where}.Effect must be "Allow" or "Deny"') from exc
    actions = _strings(raw.get("Action"), f"{where}.Action")
    for i, action in enumerate(actions):
        if not _ACTION.fullmatch(action):
            at = f"{where}.Action" if isinstance(raw.get("Action"), str) else f"{where}.Action[{i}]"
            raise PolicyError(
                f'{at} "{action}" must be "*" or look like service:Name (e.g. cr:PullRepository,'
                " cr:Get*), with * as the only wildcard"
            )
    return Statement(effect, actions, _strings(raw.get("Resource"), f"{where}.Resource"))


# -- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request, and why.

    Equality compares ``allowed``, ``policy`` and ``statement`` only; the rest explains.
    The matching patterns are worked out only when asked for (``explanation``), so a
    decision costs nothing more than the match itself.
    """

    allowed: bool
    #: Why: the policy and statement index that decided, or None when nothing matched.
    policy: str | None = None
    statement: int | None = None
    #: More context: e.g. that the policy reached the user through a resource set.
    note: str | None = field(default=None, compare=False)
    #: The deciding statement and the request (action, resource) it matched.
    matched: Statement | None = field(default=None, compare=False, repr=False)
    request: tuple[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def reason(self) -> str:
        if self.policy is None:
            return "no statement allows this request"
        verb = "allowed" if self.allowed else "denied"
        return f"{verb} by {self.policy} statement {self.statement}"

    @property
    def patterns(self) -> tuple[str | None, str | None]:
        """The deciding statement's Action and Resource patterns matching the request."""
        if self.matched is None or self.request is None:
            return None, None
        return self.matched.matched_patterns(*self.request)

    @property
    def explanation(self) -> str:
        """``reason`` plus the matching patterns and any note, for people (simulate)."""
        text = self.reason
        action_pattern, resource_pattern = self.patterns
        if action_pattern is not None and resource_pattern is not None:
            effect = "Allow" if self.allowed else "Deny"
            text += (
                f' ({effect}: Action "{action_pattern}" and Resource "{resource_pattern}" match)'
            )
        if self.note:
            text += f"; {self.note}"
        return text


def _decided(
    allowed: bool, policy: PolicyDocument, index: int, action: str, resource: str
) -> Decision:
    return Decision(allowed, policy.name, index, None, policy.statements[index], (action, resource))


def evaluate(policies: Iterable[PolicyDocument], action: str, resource: str) -> Decision:
    """Decide ``action`` on ``resource`` under ``policies``: an explicit Deny wins, then the
    first matching Allow (in order); nothing matching means denied."""
    lowered = action.lower()
    allow: tuple[PolicyDocument, int] | None = None
    for policy in policies:
        for i, st in enumerate(policy.statements):
            if not st.matches(lowered, resource):
                continue
            if st.effect is Effect.DENY:
                return _decided(False, policy, i, action, resource)
            if allow is None:
                allow = (policy, i)
    if allow is not None:
        return _decided(True, allow[0], allow[1], action, resource)
    return Decision(False)


def explicitly_denied(decision: Decision) -> bool:
    """A Deny statement decided (as opposed to nothing allowing the request)."""
    return not decision.allowed and decision.policy is not None


ADMINISTRATOR_ACCESS = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
FULL_ACCESS = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "cr:*", "Resource": "*"}],
}
READ_ONLY_ACCESS = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": ["cr:Get*", "cr:List*", "cr:Pull*"], "Resource": "*"}
    ],
}

BUILTIN_POLICIES: dict[str, dict[str, Any]] = {
    "AdministratorAccess": ADMINISTRATOR_ACCESS,
    "AliyunContainerRegistryFullAccess": FULL_ACCESS,
    "AliyunContainerRegistryReadOnlyAccess": READ_ONLY_ACCESS,
}

__all__ = [
    "BUILTIN_POLICIES",
    "Decision",
    "Effect",
    "Globs",
    "PolicyDocument",
    "PolicyError",
    "Statement",
    "compile_globs",
    "evaluate",
    "explicitly_denied",
    "glob_match",
]
