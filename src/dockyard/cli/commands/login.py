"""``dockyard login`` and ``dockyard logout``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dockyard.cli.client import (
    ApiClient,
    ApiError,
    CliError,
    Credential,
    CredentialStore,
    bind_mfa,
    normalize_server,
    sign_in,
)
from dockyard.cli.commands._common import fail, handles_errors, resolve_server

#: Sign-in refusals the CLI can answer (each at most once per login).
PASSWORD_CHANGE_REQUIRED = "PASSWORD_CHANGE_REQUIRED"  # noqa: S105 - an error code
MFA_CODE_REQUIRED = "MFA_CODE_REQUIRED"
MFA_BIND_REQUIRED = "MFA_BIND_REQUIRED"


def _interactive() -> bool:
    return sys.stdin.isatty()


def _line() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def _new_password(refusal: ApiError, from_stdin: bool) -> str:
    if from_stdin:
        value = _line()
    elif _interactive():
        typer.echo(refusal.message, err=True)
        value = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        raise CliError(
            f"{refusal.message} (stdin is not a terminal: give the new password as the next "
            "line of stdin with --new-password-stdin)"
        )
    if not value:
        raise CliError("the new password is empty", 2)
    return value


def _mfa_code(refusal: ApiError, given: str | None) -> str:
    if given:
        return given
    if not _interactive():
        raise CliError(f"{refusal.message} (give --mfa-code CODE)")
    if refusal.body.get("mfaCodeRejected"):
        typer.echo(refusal.message, err=True)
    return str(typer.prompt("MFA code")).strip()


def _first(body: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return None


def _bind_device(url: str, refusal: ApiError, given: str | None) -> None:
    """Show the TOTP secret, take a code from the authenticator app, bind the device.

    Without a terminal the code comes from ``--mfa-code``: a first run shows the secret
    (the server keeps offering the same one until it is bound), the next binds with it.
    """
    bind_token = _first(refusal.body, "bindToken")
    if bind_token is None:
        raise CliError(f"{refusal.message} (the server sent no bind token)")
    uri = _first(refusal.body, "otpauthUri", "otpauthUrl", "uri")
    secret = _first(refusal.body, "secret")
    if given is None:
        typer.echo(
            "Multi-factor authentication is required: add this virtual MFA device to your "
            "authenticator app.",
            err=True,
        )
        if uri:
            typer.echo(f"  URI:    {uri}", err=True)
        if secret:
            typer.echo(f"  Secret: {secret}", err=True)
        if not _interactive():
            raise CliError(
                "no MFA device bound yet: add the secret above to your authenticator app, then "
                "run `dockyard login` again with --mfa-code CODE (or on a terminal)"
            )
        given = str(typer.prompt("Code shown by the app")).strip()
    bind_mfa(url, bind_token, given)
    typer.echo("MFA device bound.", err=True)


def password_sign_in(
    url: str,
    username: str,
    password: str,
    *,
    mfa_code: str | None = None,
    new_password_stdin: bool = False,
) -> tuple[dict[str, Any], str]:
    """Sign in, answering the refusals that ask for something: (session, final password)."""
    new_password: str | None = None
    code: str | None = None
    bound = False
    code_prompts = 0
    while True:
        try:
            session = sign_in(url, username, password, mfa_code=code, new_password=new_password)
        except ApiError as exc:
            if exc.code == PASSWORD_CHANGE_REQUIRED and new_password is None:
                new_password = _new_password(exc, new_password_stdin)
            elif exc.code == MFA_CODE_REQUIRED and (code is None or _retry_code(code_prompts)):
                if bound and mfa_code is None and not _interactive():
                    raise CliError(
                        "MFA device bound: run `dockyard login` again with --mfa-code and the "
                        "next code of the app (a code is accepted only once)"
                    ) from None
                code = _mfa_code(exc, mfa_code if code is None else None)
                code_prompts += 1
            elif exc.code == MFA_BIND_REQUIRED and not bound:
                if new_password is not None:
                    # The required change was made before MFA was asked for.
                    password, new_password = new_password, None
                _bind_device(url, exc, mfa_code)
                bound, code, mfa_code = True, None, None  # a bound device needs a fresh code
            else:
                raise
            continue
        return session, new_password or password


def _retry_code(prompts: int) -> bool:
    """A rejected code may be typed again on a terminal (three tries in all)."""
    return _interactive() and prompts < 3


def _access_key_login(
    url: str,
    access_key_id: str,
    secret: str,
    security_token: str | None,
    username: str | None,
) -> Credential:
    """Check the access key against the server, then return it as a credential.

    With a user name, the key must be one of that user's (their own key list, which
    self-service always allows); without, any authenticated answer will do.
    """
    credential = Credential(
        url,
        username or "",
        basic=Credential.basic_of(access_key_id, secret),
        access_key_id=access_key_id,
        security_token=security_token or None,
    )
    with ApiClient.for_credential(url, credential) as client:
        if username:
            try:
                found = client.call("GET", f"/users/{username}/access-keys")
            except ApiError as exc:
                if exc.status == 401:
                    raise
                raise CliError(f"the access key is not {username}'s: {exc.message}") from exc
            ids = {k.get("accessKeyId") for k in found.get("items", [])}
            if not access_key_id.startswith("STS.") and access_key_id not in ids:
                raise CliError(f"the access key {access_key_id} is not {username}'s")
        else:
            try:
                client.call("GET", "/instances", params={"page": 1, "pageSize": 1})
            except ApiError as exc:
                if exc.status == 401:
                    raise
                # 403 and the like: the key authenticates, it only lacks this permission.
    return credential


@handles_errors
def login(
    server: Annotated[str, typer.Argument(help="Server URL or HOST:PORT.")],
    username: Annotated[
        str | None,
        typer.Option(
            "--username",
            "-u",
            help="User name (prompted if missing; with an access key: its owner, checked, "
            "and the default of --user in later commands).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the console password (or the access key secret) from stdin.",
        ),
    ] = False,
    basic: Annotated[
        bool,
        typer.Option(
            "--basic",
            help="Store the user name and password (HTTP Basic, no expiry) instead of a "
            "12-hour session token.",
        ),
    ] = False,
    access_key_id: Annotated[
        str | None,
        typer.Option(
            "--access-key-id",
            envvar="DOCKYARD_ACCESS_KEY_ID",
            help="Log in with an access key (AK…) or STS credentials (STS.…).",
            show_default=False,
        ),
    ] = None,
    access_key_secret: Annotated[
        str | None,
        typer.Option(
            "--access-key-secret",
            envvar="DOCKYARD_ACCESS_KEY_SECRET",
            help="Its secret (prompted if missing; prefer the environment variable).",
            show_default=False,
        ),
    ] = None,
    security_token: Annotated[
        str | None,
        typer.Option(
            "--security-token",
            envvar="DOCKYARD_SECURITY_TOKEN",
            help="The security token of STS credentials.",
            show_default=False,
        ),
    ] = None,
    mfa_code: Annotated[
        str | None,
        typer.Option("--mfa-code", help="The MFA code, when the server asks for one."),
    ] = None,
    new_password_stdin: Annotated[
        bool,
        typer.Option(
            "--new-password-stdin",
            help="When the password must be changed: read the new one from stdin (the line "
            "after the current password with --password-stdin).",
        ),
    ] = False,
) -> None:
    """Sign in to a server and store the credential (file mode 0600) as the default.

    A console password gives a 12-hour session token (with --basic: the password is kept).
    A required password change, MFA code or MFA device binding is asked for on a terminal
    (elsewhere: --new-password-stdin, --mfa-code). --access-key-id stores an access key
    (checked against the server) instead.
    """
    url = normalize_server(server)
    store = CredentialStore()
    if access_key_id or access_key_secret:
        if not access_key_id:
            raise fail("--access-key-secret needs --access-key-id", 2)
        if access_key_secret is None:
            if password_stdin:
                access_key_secret = _line()
            else:
                access_key_secret = typer.prompt("AccessKey secret", hide_input=True)
        if not access_key_secret:
            raise fail("the access key secret is empty", 2)
        credential = _access_key_login(
            url, access_key_id, access_key_secret, security_token, username
        )
        store.put(credential)
        typer.echo(
            f"Logged in to {url} with access key {access_key_id} (credential in {store.path})."
        )
        return
    if username is None:
        username = typer.prompt("Username")
    password = _line() if password_stdin else typer.prompt("Password", hide_input=True)
    if not username or not password:
        raise fail("a user name and a password are required", 2)
    session, password = password_sign_in(
        url, username, password, mfa_code=mfa_code, new_password_stdin=new_password_stdin
    )
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
