"""Evaluate RAM-style JSON policies.

Matching rules (PRODUCT.md §3): ``*`` matches any run of characters including ``/`` and
``:``; ``?`` is literal; actions compare case-insensitively, resources case-sensitively;
a request on the resource ``*`` is matched only by a pattern that matches the literal
``*``. An explicit Deny beats any Allow, and no matching Allow means denied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from dockyard.errors import InvalidInputError


class PolicyError(InvalidInputError):
    """A policy document is malformed."""


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: Any) -> PolicyDocument:
        if not isinstance(document, dict):
            raise PolicyError("policy must be a JSON object")
        if document.get("Version") != "1":
            raise PolicyError('policy Version must be "1"')
        raw = document.get("Statement")
        if not isinstance(raw, list) or not raw:
            raise PolicyError("policy Statement must be a non-empty list")
        return cls(name, tuple(_statement(s, i) for i, s in enumerate(raw)))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"{where} must be a non-empty string or list of strings")
    return tuple(items)


def _statement(raw: Any, index: int) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError(f"Statement[{index}] must be an object")
    try:
        effect = Effect(raw.get("Effect"))
    except ValueError as exc:
        raise PolicyError(f'Statement[{index}].Effect must be "Allow" or "Deny"') from exc
    return Statement(
        effect,
        _strings(raw.get("Action"), f"Statement[{index}].Action"),
        _strings(raw.get("Resource"), f"Statement[{index}].Resource"),
    )


@lru_cache(maxsize=4096)
def _pattern(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = ".*".join(re.escape(part) for part in glob.split("*"))
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def _matches(patterns: Iterable[str], value: str, case_sensitive: bool) -> bool:
    return any(_pattern(p, case_sensitive).match(value) for p in patterns)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: Why: the policy and statement index that decided, or None when nothing matched.
    policy: str | None = None
    statement: int | None = None

    @property
    def reason(self) -> str:
        if self.policy is None:
            return "no statement allows this request"
        verb = "allowed" if self.allowed else "denied"
        return f"{verb} by {self.policy} statement {self.statement}"


def evaluate(policies: Sequence[PolicyDocument], action: str, resource: str) -> Decision:
    allow: Decision | None = None
    for policy in policies:
        for i, st in enumerate(policy.statements):
            if not _matches(st.actions, action, case_sensitive=False):
                continue
            if not _matches(st.resources, resource, case_sensitive=True):
                continue
            if st.effect is Effect.DENY:
                return Decision(False, policy.name, i)
            if allow is None:
                allow = Decision(True, policy.name, i)
    return allow or Decision(False)


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
