"""``dockyard access-key create|list|enable|disable|delete``: a user's AccessKey pairs for
the API and CLI (yours by default, another user's with --user as an administrator)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from dockyard.cli.commands._common import (
    Call,
    command,
    print_json,
    print_list,
    print_record,
    stderr,
)
from dockyard.cli.commands._identity import UserOpt, done, self_username

app = typer.Typer(help="Access keys (AccessKey ID + secret) for the API and the CLI.")

KeyArg = Annotated[str, typer.Argument(metavar="ACCESS_KEY_ID", help="The AccessKey ID (AK…).")]

COLUMNS = [
    ("AccessKey ID", "accessKeyId"),
    ("Status", "status"),
    ("Description", "description"),
    ("Created", "createdAt"),
    ("Last used", "lastUsedAt"),
]


def _path(user: str, key: str | None = None) -> str:
    base = f"/users/{user}/access-keys"
    return f"{base}/{key}" if key else base


@command(app, "create")
def create_key(
    user: UserOpt = None,
    description: Annotated[
        str | None, typer.Option("--description", help="What the key is for.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Create an access key; its secret is shown this once."""
    username = self_username(call.server, user)
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = description
    with call.api() as client:
        created: dict[str, Any] = client.call("POST", _path(username), json=body)
    if call.as_json:
        print_json(created)
    else:
        print_record(
            created, [("AccessKey ID", "accessKeyId"), ("Secret", "accessKeySecret"), *COLUMNS[1:4]]
        )
    stderr().print(
        "[bold yellow]warning:[/bold yellow] store the secret now (a password manager, a "
        "secret store): it is never shown again. Use it with `dockyard login <server> "
        "--access-key-id … --access-key-secret …`.",
        highlight=False,
    )


@command(app, "list")
def list_keys(user: UserOpt = None, *, call: Call) -> None:
    """List the access keys (never their secrets)."""
    username = self_username(call.server, user)
    with call.api() as client:
        found = client.call("GET", _path(username))
    items: list[dict[str, Any]] = found.get("items", []) if isinstance(found, dict) else found
    print_list(items, COLUMNS, call.as_json)


def _add_key_command(verb: str, help: str, run: Callable[[str, str, Call], None]) -> None:
    """Command ``verb ACCESS_KEY_ID [--user]``, done by ``run(username, key, call)``."""

    @command(app, verb, help=help)
    def on_key(key: KeyArg, user: UserOpt = None, *, call: Call) -> None:
        run(self_username(call.server, user), key, call)


def _set_status(status: str, username: str, key: str, call: Call) -> None:
    with call.api() as client:
        updated = client.call("PATCH", _path(username, key), json={"status": status})
    fallback = {"accessKeyId": key, "status": status}
    done(call.as_json, updated, fallback, f"Access key {key} of {username} is {status}.")


def _delete(username: str, key: str, call: Call) -> None:
    with call.api() as client:
        client.call("DELETE", _path(username, key))
    done(call.as_json, None, {"deleted": key}, f"Deleted access key {key} of {username}.")


_add_key_command(
    "enable", "Let a disabled key authenticate again.", functools.partial(_set_status, "active")
)
_add_key_command(
    "disable",
    "Refuse a key from now on (it can be enabled again).",
    functools.partial(_set_status, "disabled"),
)
_add_key_command(
    "delete", "Delete a key for good (and the temporary credentials derived from it).", _delete
)
