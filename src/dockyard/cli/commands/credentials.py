"""Your own credentials: ``dockyard registry-password set``, ``dockyard auth-token``,
``dockyard sts`` and ``dockyard password change``."""

from __future__ import annotations

import shlex
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from dockyard.cli.client import CliError, Credential, CredentialStore, sign_in
from dockyard.cli.commands._common import (
    Call,
    JsonOpt,
    ServerOpt,
    api,
    command,
    handles_errors,
    print_json,
    print_record,
    resolve_server,
    stderr,
)
from dockyard.cli.commands._identity import (
    PasswordStdinOpt,
    UserOpt,
    done,
    interactive,
    new_secret,
    read_line,
    self_username,
)

registry_password_app = typer.Typer(
    help="The registry password (for docker login), separate from the console password.",
    no_args_is_help=True,
)
password_app = typer.Typer(help="Your console password.", no_args_is_help=True)


@command(registry_password_app, "set")
def set_registry_password(
    user: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    *,
    call: Call,
) -> None:
    """Set (or, as an administrator with --user, reset) a registry password.

    Typed twice, hidden; or one line from stdin with --password-stdin. It never expires.
    """
    username = self_username(call.server, user)
    password = new_secret("Registry password", password_stdin)
    with call.api() as client:
        result = client.call(
            "PUT",
            f"/users/{username}/registry-password",
            json={"password": password, "confirm": password},
        )
    host = urlsplit(resolve_server(call.server)).netloc
    message = f"Registry password of {username} set: docker login -u {username} {host}"
    done(call.as_json, result, {"user": username, "set": True}, message)


def docker_login_line(username: str, password: str, host: str) -> str:
    return (
        f"echo {shlex.quote(password)} | docker login --username {shlex.quote(username)} "
        f"--password-stdin {host}"
    )


@handles_errors
def auth_token(
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="Registry host for the docker login line (default: the server's host).",
        ),
    ] = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Temporary docker login credentials (GetAuthorizationToken).

    Valid for 1 hour, or as long as the STS credentials you are logged in with.
    """
    with api(server) as client:
        token: dict[str, Any] = client.call("POST", "/auth/authorization-token")
    if as_json:
        print_json(token)
        return
    print_record(
        token,
        [
            ("Username", "tempUsername"),
            ("Password", "authorizationToken"),
            ("Expires", "expiresAt"),
        ],
    )
    host = registry or urlsplit(resolve_server(server)).netloc
    typer.echo("")
    typer.echo(
        docker_login_line(
            str(token.get("tempUsername")), str(token.get("authorizationToken")), host
        )
    )


@handles_errors
def sts(
    duration: Annotated[
        int,
        typer.Option(
            "--duration-seconds", min=900, max=43200, help="How long they last (900-43200)."
        ),
    ] = 3600,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Temporary security credentials (STS), from an access-key login.

    An STS AccessKey pair and a security token, with an expiry.
    """
    with api(server) as client:
        found: dict[str, Any] = client.call("POST", "/auth/sts", json={"durationSeconds": duration})
    if as_json:
        print_json(found)
        return
    print_record(
        found,
        [
            ("AccessKey ID", "accessKeyId"),
            ("AccessKey secret", "accessKeySecret"),
            ("Security token", "securityToken"),
            ("Expires", "expiration"),
        ],
    )
    stderr().print(
        "Use them with `dockyard login <server> --access-key-id … --access-key-secret … "
        "--security-token …` (or DOCKYARD_ACCESS_KEY_ID, DOCKYARD_ACCESS_KEY_SECRET, "
        "DOCKYARD_SECURITY_TOKEN); they are not shown again.",
        highlight=False,
    )


@password_app.command("change")
@handles_errors
def change_password(
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the current, then the new password from stdin."
        ),
    ] = False,
    server: ServerOpt = None,
) -> None:
    """Change your own console password.

    10-32 characters with two of: letters, digits, !@#$%. Other sessions are signed out;
    the stored login is renewed.
    """
    url = resolve_server(server)
    if password_stdin:
        old = read_line()
        new = read_line()
    elif interactive():
        old = typer.prompt("Current password", hide_input=True)
        new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        raise CliError("stdin is not a terminal: give --password-stdin", 2)
    if not old or not new:
        raise CliError("the current and the new password are required", 2)
    with api(server) as client:
        result = client.call(
            "POST", "/auth/password", json={"oldPassword": old, "newPassword": new}
        )
    store = CredentialStore()
    credential = store.get(url)
    renewed = ""
    # The change ends every session: keep the stored login working (same user).
    if credential is not None and credential.username and not credential.access_key_id:
        if credential.basic:
            basic = Credential.basic_of(credential.username, new)
            store.put(Credential(url, credential.username, basic=basic))
        else:
            session = result if isinstance(result, dict) and result.get("token") else None
            session = session or sign_in(url, credential.username, new)
            store.put(
                Credential(
                    url,
                    credential.username,
                    token=str(session["token"]),
                    expires_at=str(session["expiresAt"]),
                )
            )
        renewed = " (stored login renewed)"
    typer.echo(f"Console password changed{renewed}.")


def register(app: typer.Typer) -> None:
    app.add_typer(registry_password_app, name="registry-password")
    app.add_typer(password_app, name="password")
    app.command("auth-token")(auth_token)
    app.command("sts")(sts)
