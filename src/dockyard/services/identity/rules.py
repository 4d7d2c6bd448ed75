"""The identity rules that need no database: name shapes, lengths, sharing scopes, policy
documents. Each ``check_*`` returns its value or raises ``InvalidInputError``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from dockyard.errors import InvalidInputError
from dockyard.policy import PolicyDocument
from dockyard.services.identity.changes import Placement, Sharing
from dockyard.services.identity.peers import ACCESS_KEY_ID_RE, STS_PREFIX, TEMP_USERNAME, Principal

MAX_ROLES = 20
MAX_ROLE_POLICIES = 5
POLICY_NAME_MAX = 15
DESCRIPTION_MAX = 512
ADMINISTRATOR_ROLE = "Administrator"
ADMINISTRATOR_POLICY = "AdministratorAccess"
SHARING_SCOPES = ("global", "organization", "subtree")

USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DISPLAY_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9-]{3,18}[0-9]$")
LANDLINE_RE = re.compile(r"^[0-9-]{4,20}$")
GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,255}$")
ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
POLICY_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
SET_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LOGON_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _match(regex: re.Pattern[str], value: str, field: str, rule: str) -> str:
    if not regex.fullmatch(value):
        raise InvalidInputError(f"invalid {field} {value!r}: {rule}")
    return value


def check_username(value: str) -> str:
    _match(USERNAME_RE, value, "username", "1-64 of letters, digits, '-', '_', '.'")
    # HTTP Basic reads these shapes as access-key and STS ids, and cr_temp_user is the
    # temporary docker login: a user so named could never sign in with a password.
    if ACCESS_KEY_ID_RE.fullmatch(value) or value.startswith(STS_PREFIX) or value == TEMP_USERNAME:
        raise InvalidInputError(
            f"invalid username {value!r}: reserved (the shape of an access-key or STS id, "
            "or the temporary login name)"
        )
    return value


def check_display_name(value: str) -> str:
    return _match(
        DISPLAY_NAME_RE, value, "displayName", "1-128 of letters, digits, '-', '_', '.', '@'"
    )


def check_email(value: str) -> str:
    if len(value) > 255 or not EMAIL_RE.fullmatch(value) or not value.isprintable():
        raise InvalidInputError(
            f"invalid email {value!r}: one '@' and a domain with a dot, e.g. alice@example.com"
        )
    return value


def check_phone(value: str) -> str:
    return _match(PHONE_RE, value, "phone", "5-20 digits and '-', optionally after a leading '+'")


def check_landline(value: str) -> str:
    if value == "":
        return value
    if not LANDLINE_RE.fullmatch(value) or not any(c.isdigit() for c in value):
        raise InvalidInputError(f"invalid landline {value!r}: 4-20 of digits and '-'")
    return value


def check_group_name(value: str) -> str:
    return _match(
        GROUP_NAME_RE, value, "group name", "3-255 of letters, digits, '_', '-', '.', '@'"
    )


def check_role_name(value: str) -> str:
    return _match(ROLE_NAME_RE, value, "role name", "1-64 of letters, digits, '_', '-', '.', '@'")


def check_policy_name(value: str) -> str:
    if len(value) > POLICY_NAME_MAX:
        raise InvalidInputError(
            f"invalid policy name {value!r}: at most {POLICY_NAME_MAX} characters "
            f"(it has {len(value)})"
        )
    return _match(POLICY_NAME_RE, value, "policy name", "1-15 of letters, digits, '_', '-', '.'")


def check_set_name(value: str) -> str:
    return _match(SET_NAME_RE, value, "resource set name", "1-64 of letters, digits, '_', '-', '.'")


def check_logon_name(value: str) -> str:
    return _match(
        LOGON_NAME_RE, value, "logon policy name", "1-64 of letters, digits, '_', '-', '.'"
    )


def check_organization_name(value: str) -> str:
    if not (1 <= len(value) <= 128 and value.strip() == value and value.isprintable()):
        raise InvalidInputError(
            f"invalid organization name {value!r}: 1-128 printable characters, "
            "no leading or trailing spaces"
        )
    return value


def check_no_control(value: str, field: str, allowed: str = "") -> None:
    if any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in value):
        raise InvalidInputError(f"{field} may not contain control characters")


def check_description(value: str | None) -> None:
    if value is None:
        return
    if len(value) > DESCRIPTION_MAX:
        raise InvalidInputError(f"description is at most {DESCRIPTION_MAX} characters")
    check_no_control(value, "description", "\t\n\r")


def check_sharing_scope(value: str) -> str:
    if value not in SHARING_SCOPES:
        raise InvalidInputError(
            f"sharingScope must be one of {', '.join(SHARING_SCOPES)}, not {value!r}"
        )
    return value


def check_placement(check_name: Callable[[str], str], changes: Placement) -> None:
    """The checks of a group's or resource set's update, with the aggregate's name rule."""
    new_name = changes.get("new_name")
    if new_name is not None:
        check_name(new_name)
    check_description(changes.get("description"))


def check_sharing(changes: Sharing) -> None:
    """The checks of a role's or policy's update."""
    check_description(changes.get("description"))
    sharing_scope = changes.get("sharing_scope")
    if sharing_scope is not None:
        check_sharing_scope(sharing_scope)


def parse_policy_document(name: str, document: Any) -> PolicyDocument:
    """Validate a policy document; errors name the statement (``Statement[1].Effect``)."""
    try:
        return PolicyDocument.parse(name, document)
    except InvalidInputError as exc:
        raise InvalidInputError(f"invalid policy document: {exc.message}") from exc


def parse_organization_id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInputError(
            f"{field} must be an organization id (a UUID), not {value!r}"
        ) from None


def unusable(name: str) -> bool:
    """A name no row can have (control characters, absurd length): not looked up."""
    return len(name) > 300 or any(ord(c) < 32 or ord(c) == 127 for c in name)


def is_administrator(principal: Principal) -> bool:
    """Whether the principal holds ``AdministratorAccess`` (everywhere, not through sets)."""
    return any(doc.name == ADMINISTRATOR_POLICY for doc in principal.policies)
