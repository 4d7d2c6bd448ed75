"""``dockyard user create|list|get|update|delete|grant-role|revoke-role|mfa|reset-password``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import (
    JsonOpt,
    ServerOpt,
    api,
    handles_errors,
    print_record,
)
from dockyard.cli.commands._identity import (
    ROLE,
    USERNAME,
    OrgOpt,
    PasswordStdinOpt,
    done,
    new_secret,
    with_org_id,
    with_org_names,
)
from dockyard.cli.commands._shapes import (
    Link,
    Resource,
    Verb,
    add_delete,
    add_get,
    add_links,
    add_list,
    changes,
    given,
)

app = typer.Typer(help="Users: console sign-in, roles and MFA (administrators).")
mfa_app = typer.Typer(help="Multi-factor authentication of a user.", no_args_is_help=True)
app.add_typer(mfa_app, name="mfa")

UserArg = Annotated[str, USERNAME]
DisplayNameOpt = Annotated[str | None, typer.Option("--display-name", help="Shown name.")]
EmailOpt = Annotated[str | None, typer.Option("--email", help="E-mail address.")]
PhoneOpt = Annotated[str | None, typer.Option("--phone", help="Mobile phone number.")]
LandlineOpt = Annotated[str | None, typer.Option("--landline", help="Landline number.")]
NotifyOpt = Annotated[
    bool | None,
    typer.Option(
        "--notify-email/--no-notify-email",
        help="Whether notifications go to the e-mail address.",
        show_default=False,
    ),
]
WebhookOpt = Annotated[
    str | None, typer.Option("--chat-webhook-key", help="Chat webhook key for notifications.")
]
LogonPolicyOpt = Annotated[
    str | None, typer.Option("--logon-policy", help="Logon policy name (when and where).")
]

COLUMNS = [
    ("Username", "username"),
    ("Display name", "displayName"),
    ("Organization", "organization"),
    ("E-mail", "email"),
    ("Roles", "roles"),
    ("MFA", "mfaRequired"),
    ("Created", "createdAt"),
]
FIELDS = [
    *COLUMNS[:2],
    ("Organization", "organizationId"),
    COLUMNS[3],
    ("Phone", "phone"),
    ("Landline", "landline"),
    ("Notify by e-mail", "notifyEmail"),
    ("Logon policy", "logonPolicy"),
    ("Chat webhook key", "chatWebhookKeySet"),
    ("Roles", "roles"),
    ("Groups", "groups"),
    ("MFA required", "mfaRequired"),
    ("MFA bound", "mfaBound"),
    ("Must change password", "mustChangePassword"),
    ("Disabled", "disabled"),
    ("Created", "createdAt"),
    ("Updated", "updatedAt"),
]


def _record(_client: ApiClient, user: dict[str, Any]) -> None:
    # The organization's id: a user reading their own record may not list organizations.
    print_record(user, FIELDS)


USERS = Resource("user", "users", "/users", USERNAME, _record)


def _profile(
    display_name: str | None,
    email: str | None,
    phone: str | None,
    landline: str | None,
    notify_email: bool | None,
    chat_webhook_key: str | None,
    logon_policy: str | None,
) -> dict[str, Any]:
    """The profile fields that were given (create and update take the same options)."""
    return given(
        {
            "displayName": display_name,
            "email": email,
            "phone": phone,
            "landline": landline,
            "notifyEmail": notify_email,
            "chatWebhookKey": chat_webhook_key,
            "logonPolicy": logon_policy,
        }
    )


@app.command("create")
@handles_errors
def create_user(
    username: UserArg,
    org: OrgOpt = None,
    display_name: DisplayNameOpt = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    landline: LandlineOpt = None,
    notify_email: NotifyOpt = None,
    chat_webhook_key: WebhookOpt = None,
    logon_policy: LogonPolicyOpt = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Role to grant; repeatable.")
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user with an initial console password (changed at the first sign-in).

    The password is typed twice (hidden), or read from stdin with --password-stdin.
    """
    password = new_secret("Initial password", password_stdin)
    body = _profile(
        display_name or username,
        email,
        phone,
        landline,
        notify_email,
        chat_webhook_key,
        logon_policy,
    )
    body.update(username=username, password=password, organizationId=org or "root")
    if role:
        body["roles"] = role
    with api(server) as client:
        USERS.create(client, with_org_id(client, body), as_json)


add_list(
    app,
    USERS,
    "List the users (of one organization with --org).",
    COLUMNS,
    rows=with_org_names,
    org_filter=True,
)
add_get(app, USERS, "Show a user.")


@app.command("update")
@handles_errors
def update_user(
    username: UserArg,
    org: OrgOpt = None,
    display_name: DisplayNameOpt = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    landline: LandlineOpt = None,
    notify_email: NotifyOpt = None,
    chat_webhook_key: WebhookOpt = None,
    logon_policy: LogonPolicyOpt = None,
    disabled: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="Lock the user out, or let them back in."),
    ] = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a user's profile, organization, logon policy, or disable them."""
    profile = _profile(
        display_name, email, phone, landline, notify_email, chat_webhook_key, logon_policy
    )
    fields = {**profile, "disabled": disabled, "organizationId": org}
    body = changes(fields, "at least one option (see --help)")
    with api(server) as client:
        USERS.update(client, username, with_org_id(client, body), as_json)


add_delete(app, USERS, "Delete a user (and their access keys).")
add_links(
    app,
    Link(USERS, "user", ROLE, "role", "roles", "granted"),
    Verb("grant-role", "Grant a role to a user.", "Granted role {target} to user {owner}."),
    Verb(
        "revoke-role",
        "Take a role away from a user (roles through groups stay).",
        "Revoked role {target} from user {owner}.",
    ),
)


def _set_mfa(username: str, required: bool, server: str | None, as_json: bool) -> None:
    with api(server) as client:
        result = client.call("PUT", f"/users/{username}/mfa", json={"required": required})
    if required:
        message = f"MFA enabled for {username}: they bind a device at their next sign-in."
    else:
        message = f"MFA disabled for {username} (their bound device is forgotten)."
    done(as_json, result, {"user": username, "mfaRequired": required}, message)


@mfa_app.command("enable")
@handles_errors
def enable_mfa(username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Require MFA: the user binds a virtual MFA device at the next sign-in."""
    _set_mfa(username, True, server, as_json)


@mfa_app.command("disable")
@handles_errors
def disable_mfa(username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Stop requiring MFA and forget the user's bound device."""
    _set_mfa(username, False, server, as_json)


@mfa_app.command("reset-device")
@handles_errors
def reset_mfa_device(username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Forget the bound device (lost phone): the user binds a new one at the next sign-in."""
    with api(server) as client:
        client.call("DELETE", f"/users/{username}/mfa/device")
    done(
        as_json,
        None,
        {"user": username, "mfaDevice": None},
        f"Forgot the MFA device of {username}.",
    )


@app.command("reset-password")
@handles_errors
def reset_password(
    username: UserArg,
    password_stdin: PasswordStdinOpt = False,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a new console password; the user must change it at the next sign-in."""
    password = new_secret("New password", password_stdin)
    with api(server) as client:
        result = client.call("PUT", f"/users/{username}/password", json={"password": password})
    done(
        as_json,
        result,
        {"user": username, "mustChangePassword": True},
        f"Reset the console password of {username}; they change it at the next sign-in.",
    )
