"""What the identity commands (users, groups, roles, credentials, ...) share."""

from __future__ import annotations

import sys
import uuid
from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient, ApiError, CliError, CredentialStore
from dockyard.cli.commands._common import print_json, resolve_server

# The positional arguments naming identity resources, shared by the commands on them and
# the commands linking them (grant a ROLE, add a member USERNAME, ...).
USERNAME = typer.Argument(metavar="USERNAME", help="User name.")
GROUP = typer.Argument(metavar="GROUP", help="Group name.")
ROLE = typer.Argument(metavar="ROLE", help="Role name.")
POLICY = typer.Argument(metavar="POLICY", help="Policy name.")

DescriptionOpt = Annotated[str | None, typer.Option("--description", help="Free text.")]
#: ``update``'s rename.
NewNameOpt = Annotated[str | None, typer.Option("--name", help="New name.")]
OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="Organization: its id or its name (`root` is the top)."),
]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        help="User name (default: the user you logged in as).",
        show_default=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")
]


def interactive() -> bool:
    """Whether prompts can be answered: stdin is a terminal."""
    return sys.stdin.isatty()


def read_line() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def new_secret(what: str, from_stdin: bool, flag: str = "--password-stdin") -> str:
    """A new password: one stdin line with ``from_stdin``, else typed twice on a terminal."""
    if from_stdin:
        value = read_line()
    elif interactive():
        value = typer.prompt(what, hide_input=True, confirmation_prompt=True)
    else:
        raise CliError(f"stdin is not a terminal: give {flag} to read the {what.lower()}", 2)
    if not value:
        raise CliError(f"the {what.lower()} is empty", 2)
    return value


def self_username(server: str | None, user: str | None) -> str:
    """``user``, or the user name stored with the credential of ``server``."""
    if user:
        return user
    credential = CredentialStore().get(resolve_server(server))
    if credential is None or not credential.username:
        raise CliError("whose? give --user (the stored credential does not name a user)", 2)
    return credential.username


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def org_id(client: ApiClient, value: str) -> str:
    """An organization id from an id or a name (names are unique within the account)."""
    if _is_uuid(value):
        return value
    found = [o for o in client.iter_all("/organizations") if o.get("name") == value]
    if not found:
        raise CliError(f"organization {value!r} not found")
    return str(found[0]["id"])


def with_org_id(
    client: ApiClient, body: dict[str, Any], key: str = "organizationId"
) -> dict[str, Any]:
    """``body`` with the organization under ``key`` (given by id or name) as its id, for the
    API; ``body`` as it is when it names none."""
    if body.get(key) is None:
        return body
    return {**body, key: org_id(client, body[key])}


def with_org_names(client: ApiClient, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``organization``: the name of their ``organizationId`` (for tables)."""
    if not any(row.get("organizationId") for row in rows):
        return rows
    try:
        names = {str(o["id"]): str(o["name"]) for o in client.iter_all("/organizations")}
    except ApiError:
        names = {}  # not allowed to list organizations: show the ids
    return [
        {
            **row,
            "organization": names.get(str(row.get("organizationId")), row.get("organizationId")),
        }
        for row in rows
    ]


def done(as_json: bool, result: Any, fallback: dict[str, Any], message: str) -> None:
    """Output of a change without an interesting body (grant, link, delete, ...)."""
    if as_json:
        print_json(result if isinstance(result, dict) else fallback)
    else:
        typer.echo(message)
