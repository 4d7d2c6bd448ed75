"""``dockyard user create|list|get|update|delete|grant-role|revoke-role|mfa|reset-password``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.cli.commands._common import (
    JsonOpt,
    PageOpt,
    PageSizeOpt,
    ServerOpt,
    api,
    handles_errors,
    list_or_page,
    print_json,
    print_record,
    print_table,
)
from dockyard.cli.commands._identity import (
    OrgOpt,
    PasswordStdinOpt,
    done,
    new_secret,
    org_id,
    with_org_names,
)
from dockyard.cli.commands._links import change_link

app = typer.Typer(help="Users: console sign-in, roles and MFA (administrators).")
mfa_app = typer.Typer(help="Multi-factor authentication of a user.", no_args_is_help=True)
app.add_typer(mfa_app, name="mfa")

UserArg = Annotated[str, typer.Argument(metavar="USERNAME", help="User name.")]
RoleArg = Annotated[str, typer.Argument(metavar="ROLE", help="Role name.")]
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


def _show(user: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(user)
    else:
        # The organization's id: a user reading their own record may not list organizations.
        print_record(user, FIELDS)


def _profile(
    display_name: str | None,
    email: str | None,
    phone: str | None,
    landline: str | None,
    notify_email: bool | None,
    chat_webhook_key: str | None,
    logon_policy: str | None,
) -> dict[str, Any]:
    fields = {
        "displayName": display_name,
        "email": email,
        "phone": phone,
        "landline": landline,
        "notifyEmail": notify_email,
        "chatWebhookKey": chat_webhook_key,
        "logonPolicy": logon_policy,
    }
    return {k: v for k, v in fields.items() if v is not None}


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
    body.update(username=username, password=password)
    if role:
        body["roles"] = role
    with api(server) as client:
        body["organizationId"] = org_id(client, org or "root")
        _show(client.call("POST", "/users", json=body), as_json)


@app.command("list")
@handles_errors
def list_users(
    org: OrgOpt = None,
    server: ServerOpt = None,
    as_json: JsonOpt = False,
    page: PageOpt = None,
    page_size: PageSizeOpt = 30,
) -> None:
    """List the users (of one organization with --org)."""
    with api(server) as client:
        oid = org_id(client, org) if org else None
        items = list_or_page(client, "/users", "users", page, page_size, organizationId=oid)
        rows = items if as_json else with_org_names(client, items)
    if as_json:
        print_json(items)
    else:
        print_table(rows, COLUMNS)


@app.command("get")
@handles_errors
def get_user(username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Show a user."""
    with api(server) as client:
        _show(client.call("GET", f"/users/{username}"), as_json)


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
    body = _profile(
        display_name, email, phone, landline, notify_email, chat_webhook_key, logon_policy
    )
    if disabled is not None:
        body["disabled"] = disabled
    if not body and org is None:
        raise CliError("nothing to update: give at least one option (see --help)", 2)
    with api(server) as client:
        if org is not None:
            body["organizationId"] = org_id(client, org)
        _show(client.call("PATCH", f"/users/{username}", json=body), as_json)


@app.command("delete")
@handles_errors
def delete_user(username: UserArg, server: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a user (and their access keys)."""
    with api(server) as client:
        client.call("DELETE", f"/users/{username}")
    done(as_json, None, {"deleted": username}, f"Deleted user {username}.")


@app.command("grant-role")
@handles_errors
def grant_role(
    username: UserArg, role: RoleArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Grant a role to a user."""
    fallback = {"user": username, "role": role, "granted": True}
    message = f"Granted role {role} to user {username}."
    change_link(server, as_json, "PUT", f"/users/{username}/roles/{role}", fallback, message)


@app.command("revoke-role")
@handles_errors
def revoke_role(
    username: UserArg, role: RoleArg, server: ServerOpt = None, as_json: JsonOpt = False
) -> None:
    """Take a role away from a user (roles through groups stay)."""
    fallback = {"user": username, "role": role, "granted": False}
    message = f"Revoked role {role} from user {username}."
    change_link(server, as_json, "DELETE", f"/users/{username}/roles/{role}", fallback, message)


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
