"""``dockyard user create|list|get|update|delete|grant-role|revoke-role|mfa|reset-password``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import ApiClient
from dockyard.cli.commands._common import Call, command, print_record
from dockyard.cli.commands._identity import (
    ROLE,
    USERNAME,
    OrgOpt,
    PasswordStdinOpt,
    done,
    new_secret,
    with_org_names,
)
from dockyard.cli.commands._shapes import (
    Link,
    Listing,
    Resource,
    Verb,
    add_commands,
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


USERS = Resource("user", "users", "/users", USERNAME, _record, org_key="organizationId")


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
    *,
    call: Call,
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
    USERS.create(call, body)


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
    *,
    call: Call,
) -> None:
    """Change a user's profile, organization, logon policy, or disable them."""
    profile = _profile(
        display_name, email, phone, landline, notify_email, chat_webhook_key, logon_policy
    )
    fields = {**profile, "disabled": disabled, "organizationId": org}
    body = changes(fields, "at least one option (see --help)")
    USERS.update(call, username, body)


add_commands(
    app,
    USERS,
    create=create_user,
    list=Listing(
        "List the users (of one organization with --org).",
        COLUMNS,
        rows=with_org_names,
        org_filter=True,
    ),
    get="Show a user.",
    update=update_user,
    delete="Delete a user (and their access keys).",
    links=[
        Link(
            "user",
            ROLE,
            "role",
            "roles",
            "granted",
            Verb("grant-role", "Grant a role to a user.", "Granted role {target} to user {owner}."),
            Verb(
                "revoke-role",
                "Take a role away from a user (roles through groups stay).",
                "Revoked role {target} from user {owner}.",
            ),
        )
    ],
)


def _set_mfa(username: str, required: bool, call: Call) -> None:
    with call.api() as client:
        result = client.call("PUT", f"/users/{username}/mfa", json={"required": required})
    if required:
        message = f"MFA enabled for {username}: they bind a device at their next sign-in."
    else:
        message = f"MFA disabled for {username} (their bound device is forgotten)."
    done(call.as_json, result, {"user": username, "mfaRequired": required}, message)


@command(mfa_app, "enable")
def enable_mfa(username: UserArg, *, call: Call) -> None:
    """Require MFA: the user binds a virtual MFA device at the next sign-in."""
    _set_mfa(username, True, call)


@command(mfa_app, "disable")
def disable_mfa(username: UserArg, *, call: Call) -> None:
    """Stop requiring MFA and forget the user's bound device."""
    _set_mfa(username, False, call)


@command(mfa_app, "reset-device")
def reset_mfa_device(username: UserArg, *, call: Call) -> None:
    """Forget the bound device (lost phone): the user binds a new one at the next sign-in."""
    with call.api() as client:
        client.call("DELETE", f"/users/{username}/mfa/device")
    done(
        call.as_json,
        None,
        {"user": username, "mfaDevice": None},
        f"Forgot the MFA device of {username}.",
    )


@command(app, "reset-password")
def reset_password(
    username: UserArg, password_stdin: PasswordStdinOpt = False, *, call: Call
) -> None:
    """Set a new console password; the user must change it at the next sign-in."""
    password = new_secret("New password", password_stdin)
    with call.api() as client:
        result = client.call("PUT", f"/users/{username}/password", json={"password": password})
    done(
        call.as_json,
        result,
        {"user": username, "mustChangePassword": True},
        f"Reset the console password of {username}; they change it at the next sign-in.",
    )
