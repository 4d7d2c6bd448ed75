"""``dockyard login`` and ``dockyard logout``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dockyard.cli.client import Credential, CredentialStore, normalize_server, sign_in
from dockyard.cli.commands._common import fail, handles_errors, resolve_server


@handles_errors
def login(
    server: Annotated[str, typer.Argument(help="Server URL or HOST:PORT.")],
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="User name (prompted if missing).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the console password from stdin.")
    ] = False,
    basic: Annotated[
        bool,
        typer.Option(
            "--basic",
            help="Store the user name and password (HTTP Basic, no expiry) instead of a "
            "12-hour session token.",
        ),
    ] = False,
) -> None:
    """Sign in to a server and store the credential (file mode 0600) as the default."""
    url = normalize_server(server)
    if username is None:
        username = typer.prompt("Username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    if not username or not password:
        raise fail("a user name and a password are required", 2)
    session = sign_in(url, username, password)
    store = CredentialStore()
    if basic:
        credential = Credential(url, username, basic=Credential.basic_of(username, password))
    else:
        credential = Credential(
            url, username, token=str(session["token"]), expires_at=str(session["expiresAt"])
        )
    store.put(credential)
    typer.echo(f"Logged in to {url} as {username} (credential in {store.path}).")


@handles_errors
def logout(
    server: Annotated[
        str | None, typer.Argument(help="Server (default: the logged-in default).")
    ] = None,
) -> None:
    """Forget the stored credential of a server."""
    url = resolve_server(server)
    if not CredentialStore().remove(url):
        raise fail(f"not logged in to {url}")
    typer.echo(f"Logged out of {url}.")


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
