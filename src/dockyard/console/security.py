"""The console's browser-facing defences: the session cookie, CSRF tokens and the response
headers every page carries.

* The session is the management API's own session token (``SignInService``), kept in an
  ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when the request came over TLS), so
  sign-out, a password change and a disabled user end it exactly as they end API sessions.
* Every state-changing request carries a CSRF token in its form: an HMAC of the session
  token (before sign-in: of a random pre-session cookie), which a page of another origin
  can neither read nor compute. A missing or wrong token is refused with 403.
* Pages allow scripts and styles from the console itself only (no inline script or style,
  no ``eval``), no framing, and forms that post back to this origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "dockyard_console"
#: Before sign-in: what the sign-in form's CSRF token is bound to.
PRESESSION_COOKIE = "dockyard_console_pre"
CSRF_FIELD = "csrf"
COOKIE_PATH = "/console"

#: The largest form the console accepts (a repository description is the biggest field).
MAX_FORM_BYTES = 256 * 1024

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
}


class FormTooLargeError(ValueError):
    pass


def csrf_token(seed: str) -> str:
    """The CSRF token bound to ``seed`` (the session token, or the pre-session cookie)."""
    return hmac.new(seed.encode(), b"dockyard-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(seed: str | None, sent: str | None) -> bool:
    if not seed or not sent:
        return False
    return hmac.compare_digest(csrf_token(seed), sent)


def new_presession() -> str:
    return secrets.token_urlsafe(32)


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS (behind a trusted proxy: as it reported)."""
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=is_tls(request)
    )


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (the only kind the console's forms send)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLargeError(f"a console form is at most {MAX_FORM_BYTES} bytes")
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
