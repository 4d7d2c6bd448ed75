"""``dockyard access-key create|list|enable|disable|delete``: a user's AccessKey pairs for
the API and CLI (yours by default, another user's with --user as an administrator)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from dockyard.cli.commands._common import (
    JsonOpt,
    ServerOpt,
    api,
    handles_errors,
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


@app.command("create")
@handles_errors
def create_key(
    user: UserOpt = None,
    description: Annotated[
        str | None, typer.Option("--description", help="What the key is for.")
    ] = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an access key; its secret is shown this once."""
    username = self_username(server, user)
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = description
    with api(server) as client:
        created: dict[str, Any] = client.call("POST", _path(username), json=body)
    if as_json:
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


@app.command("list")
@handles_errors
def list_keys(user: UserOpt = None, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """List the access keys (never their secrets)."""
    username = self_username(server, user)
    with api(server) as client:
        found = client.call("GET", _path(username))
    items: list[dict[str, Any]] = found.get("items", []) if isinstance(found, dict) else found
    print_list(items, COLUMNS, as_json)


def _add_key_command(
    command: str, help: str, run: Callable[[str, str, str | None, bool], None]
) -> None:
    """Command ``command ACCESS_KEY_ID [--user]``, done by ``run(username, key, server,
    as_json)``."""

    @app.command(command, help=help)
    @handles_errors
    def on_key(
        key: KeyArg, user: UserOpt = None, server: ServerOpt = None, as_json: JsonOpt = False
    ) -> None:
        run(self_username(server, user), key, server, as_json)


def _set_status(status: str, username: str, key: str, server: str | None, as_json: bool) -> None:
    with api(server) as client:
        updated = client.call("PATCH", _path(username, key), json={"status": status})
    fallback = {"accessKeyId": key, "status": status}
    done(as_json, updated, fallback, f"Access key {key} of {username} is {status}.")


def _delete(username: str, key: str, server: str | None, as_json: bool) -> None:
    with api(server) as client:
        client.call("DELETE", _path(username, key))
    done(as_json, None, {"deleted": key}, f"Deleted access key {key} of {username}.")


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
