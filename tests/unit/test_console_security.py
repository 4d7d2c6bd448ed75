"""The console's browser-facing defences that need no browser: CSRF tokens, cookie flags,
where a sign-in may lead, and the headers every answer carries."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from dockyard.console import security
from dockyard.console.pages import safe_next

pytestmark = pytest.mark.unit


def _request(scheme: str) -> Request:
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "method": "GET",
            "path": "/console/signin",
            "headers": [(b"host", b"registry.example")],
            "server": ("registry.example", 443 if scheme == "https" else 80),
        }
    )


def test_a_csrf_token_belongs_to_its_session() -> None:
    token = security.csrf_token("session-a")
    assert security.csrf_matches("session-a", token)
    assert not security.csrf_matches("session-b", token)
    assert not security.csrf_matches("session-a", "")
    assert not security.csrf_matches(None, token)
    assert not security.csrf_matches("session-a", token[:-1] + ("0" if token[-1] != "0" else "1"))


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_the_session_cookie_is_httponly_strict_and_secure_under_tls(
    scheme: str, secure: bool
) -> None:
    response = Response()
    security.set_cookie(response, _request(scheme), security.SESSION_COOKIE, "token")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert ("Secure" in cookie) is secure


@pytest.mark.parametrize(
    ("wanted", "went"),
    [
        ("/console/instances/default", "/console/instances/default"),
        ("https://evil.example/console/", "/console/instances"),
        ("//evil.example/console/", "/console/instances"),
        ("/console/\\evil", "/console/instances"),
        ("/api/v1/instances", "/console/instances"),
        ("", "/console/instances"),
    ],
)
def test_sign_in_leads_only_to_a_console_page(wanted: str, went: str) -> None:
    assert safe_next(wanted) == went


def test_the_content_security_policy_allows_no_inline_script_and_no_framing() -> None:
    csp = security.CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert "unsafe" not in csp
