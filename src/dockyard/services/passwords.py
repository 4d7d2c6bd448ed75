"""Passwords: how they are hashed and checked, which ones are acceptable, and when failures lock.

One place for the rules every password path shares: the console password (sign-in, Basic
on the API, the identity service's initial and reset passwords), the registry password
(``docker login``) and the lockout that consecutive console failures trigger, whether they
come through the sign-in page or API Basic.
"""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dockyard.errors import InvalidInputError

#: Consecutive console-password failures that lock a user, and for how long.
LOCKOUT_THRESHOLD = 5
LOCKOUT_DURATION = timedelta(minutes=15)

#: Console password rule (PRODUCT.md §3).
PASSWORD_MIN = 10
PASSWORD_MAX = 32
PASSWORD_SPECIALS = "!@#$%"  # noqa: S105 - allowed characters

#: Registry password rule (design): 8-64 characters, at least two of lower-case letters,
#: upper-case letters, digits and symbols.
REGISTRY_PASSWORD_MIN, REGISTRY_PASSWORD_MAX = 8, 64

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash (the only form a password is stored in)."""
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: argon2 is deliberately slow and memory-hungry."""
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(hashed: str | None, password: str) -> bool:
    """Constant-work check: an unknown user costs the same argon2 run as a known one."""
    try:
        return _hasher.verify(hashed or _dummy_hash(), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_complexity(password: str, field: str = "password") -> None:
    """PRODUCT.md §3: 10-32 characters with at least two of letters, digits and the special
    characters ``! @ # $ %``. Other printable characters may appear but count as none of
    the kinds; control characters are refused. Raises :class:`InvalidInputError` naming
    ``field``."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInputError(
            f"{field}: must be {PASSWORD_MIN}-{PASSWORD_MAX} characters",
            detail={"field": field},
        )
    if not password.isprintable():
        raise InvalidInputError(
            f"{field}: control characters are not allowed", detail={"field": field}
        )
    kinds = sum(
        (
            any(c.isalpha() for c in password),
            any(c.isdigit() for c in password),
            any(c in PASSWORD_SPECIALS for c in password),
        )
    )
    if kinds < 2:
        raise InvalidInputError(
            f"{field}: must contain at least two of letters, digits and special characters "
            f"({' '.join(PASSWORD_SPECIALS)})",
            detail={"field": field},
        )


def check_registry_password(password: str, confirm: str) -> None:
    """The registry password rule; :class:`InvalidInputError` says what is wrong."""
    if password != confirm:
        raise InvalidInputError("password and confirm do not match", detail={"field": "confirm"})
    if not REGISTRY_PASSWORD_MIN <= len(password) <= REGISTRY_PASSWORD_MAX:
        raise InvalidInputError(
            f"the registry password must be {REGISTRY_PASSWORD_MIN}-{REGISTRY_PASSWORD_MAX} "
            "characters long",
            detail={"field": "password"},
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise InvalidInputError(
            "the registry password must not contain control characters",
            detail={"field": "password"},
        )
    classes = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < 2:
        raise InvalidInputError(
            "the registry password needs at least two of: lower-case letters, upper-case "
            "letters, digits, symbols",
            detail={"field": "password"},
        )
