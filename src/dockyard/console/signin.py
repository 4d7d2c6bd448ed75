"""Sign-in (password; the forced change of an initial password; MFA), sign-out and the
visitor's own password: pages over ``SignInService``, which the API's /auth routes use too."""

from __future__ import annotations

from typing import Any

import segno
from starlette.responses import Response
from starlette.routing import Route

from dockyard.authn import client_address
from dockyard.console import security
from dockyard.console.context import ConsoleServices
from dockyard.console.pages import PageContext, page, redirect, safe_next
from dockyard.errors import AuthenticationError, InvalidInputError
from dockyard.services.access import actions
from dockyard.services.signin import (
    MfaBindRequiredError,
    MfaCodeRequiredError,
    PasswordChangeRequiredError,
    SessionGrant,
    SignInRefusedError,
)

#: Notices a redirect may ask the sign-in page to show (never text from the query string).
NOTICES = {
    "signedout": "You have signed out.",
    "ended": "Your session has ended. Sign in again.",
    "bound": "The MFA device is bound. Sign in again with your password and a current code.",
    "changed": "Your password is changed. Every other session of yours has ended.",
}

#: The API's field names (in its validation messages) as the console's form names them.
FIELDS = {"newPassword": "new_password", "oldPassword": "old_password", "code": "code"}


def _field_of(exc: InvalidInputError) -> str:
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    return FIELDS.get(str(detail.get("field", "")), "form")


def _message(exc: InvalidInputError) -> str:
    """The service's message without its ``field:`` prefix (the page shows it at the field)."""
    head, sep, rest = exc.message.partition(": ")
    return rest if sep and head in FIELDS else exc.message


def _signed_in(context: PageContext, grant: SessionGrant) -> Response:
    response = redirect(safe_next(context.form.text("next")))
    security.set_cookie(response, context.request, security.SESSION_COOKIE, grant.token)
    security.clear_cookie(response, context.request, security.PRESESSION_COOKIE)
    return response


def _qr(uri: str) -> str:
    """The key URI as a QR code (an SVG ``data:`` URI: the CSP allows ``img-src data:``)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2)) if uri else ""


def _form(context: PageContext, step: str, status: int = 200, **values: Any) -> Response:
    values.setdefault("errors", {})
    binding = values.get("binding") or {}
    values["qr"] = _qr(str(binding.get("otpauthUri", "")))
    values.setdefault("notice", "")
    return context.render(
        "signin.html",
        status=status,
        step=step,
        username=context.form.text("username"),
        next=safe_next(context.form.text("next") or context.query("next")),
        **values,
    )


async def signin_page(context: PageContext) -> Response:
    if context.visitor is not None:
        return redirect(safe_next(context.query("next")))
    return _form(context, "password", notice=NOTICES.get(context.query("notice"), ""))


async def signin(context: PageContext) -> Response:
    form = context.form
    new_password = form.secret("new_password") or None
    step = form.text("step")
    if step == "change" and new_password != form.secret("confirm_password"):
        return _form(
            context, "change", 400, errors={"confirm_password": "The passwords do not match."}
        )
    try:
        grant = await context.svc.signin.sign_in(
            form.text("username"),
            form.secret("password"),
            source_ip=client_address(context.request),
            mfa_code=form.text("mfa_code") or None,
            new_password=new_password if step == "change" else None,
        )
    except PasswordChangeRequiredError:
        return _form(context, "change", 200, notice="This password must be changed first.")
    except MfaBindRequiredError as exc:
        return _form(context, "bind", 200, binding=exc.fields)
    except MfaCodeRequiredError as exc:
        rejected = bool(exc.fields.get("mfaCodeRejected"))
        errors = {"mfa_code": "The code is not valid; enter the current one."} if rejected else {}
        return _form(context, "mfa", 401 if rejected else 200, errors=errors)
    except SignInRefusedError as exc:
        # Lockout, logon policy, a disabled user: the service's words.
        return _form(context, "password", 403, errors={"form": exc.message})
    except InvalidInputError as exc:
        return _form(context, "change", 400, errors={_field_of(exc): _message(exc)})
    except AuthenticationError as exc:
        return _form(context, step or "password", 401, errors={"form": exc.message})
    return _signed_in(context, grant)


async def bind_mfa(context: PageContext) -> Response:
    form = context.form
    try:
        await context.svc.signin.bind_mfa(
            form.text("bind_token"), form.text("code"), source_ip=client_address(context.request)
        )
    except InvalidInputError as exc:
        binding = {
            "bindToken": form.text("bind_token"),
            "secret": form.text("secret"),
            "otpauthUri": form.text("otpauth_uri"),
        }
        return _form(context, "bind", 400, binding=binding, errors={"code": _message(exc)})
    except AuthenticationError as exc:
        return _form(context, "password", 401, errors={"form": exc.message})
    return redirect("/console/signin?notice=bound")


async def signout(context: PageContext) -> Response:
    await context.svc.signin.sign_out(context.user.name, source_ip=context.user.source_ip)
    response = redirect("/console/signin?notice=signedout")
    security.clear_cookie(response, context.request, security.SESSION_COOKIE)
    return response


async def account_page(context: PageContext, status: int = 200, **values: Any) -> Response:
    values.setdefault("errors", {})
    values.setdefault("notice", NOTICES.get(context.query("notice"), ""))
    return context.render("account.html", status=status, **values)


async def change_password(context: PageContext) -> Response:
    form, user = context.form, context.user
    svc = context.svc.signin
    await user.require(
        context.svc.audit,
        actions.CHANGE_PASSWORD,
        f"acs:ram::{await svc.account_arn_id()}:user/{user.name}",
    )
    if form.secret("new_password") != form.secret("confirm_password"):
        return await account_page(
            context, 400, errors={"confirm_password": "The passwords do not match."}
        )
    try:
        grant = await svc.change_password(
            user.name,
            form.secret("old_password"),
            form.secret("new_password"),
            source_ip=user.source_ip,
        )
    except InvalidInputError as exc:
        return await account_page(context, 400, errors={_field_of(exc): _message(exc)})
    # A new page, so that its forms carry the new session's CSRF token.
    response = redirect("/console/account?notice=changed")
    security.set_cookie(response, context.request, security.SESSION_COOKIE, grant.token)
    return response


def routes(svc: ConsoleServices) -> list[Route]:
    return [
        Route("/console/signin", page(svc, signin_page, signed_in=False), methods=["GET"]),
        Route("/console/signin", page(svc, signin, signed_in=False), methods=["POST"]),
        Route("/console/signin/mfa", page(svc, bind_mfa, signed_in=False), methods=["POST"]),
        Route("/console/signout", page(svc, signout), methods=["POST"]),
        Route("/console/account", page(svc, account_page), methods=["GET"]),
        Route("/console/account/password", page(svc, change_password), methods=["POST"]),
    ]
