"""How a request proves who sent it: what the registry, the API and the console share.

A face-level module, beside ``host_guard`` and ``proxy``: it reads HTTP headers (through
Starlette's ``HTTPConnection``, which every face is built on, never FastAPI), so it cannot
live in ``services`` (no HTTP there), and it is no one face's property, so that neither face
imports the other. The decisions themselves (is this secret right, may this principal act)
stay in ``services.credentials`` and ``services.access``; this module only picks the scheme
and hands the parts over.
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import HTTPConnection

from dockyard.errors import AuthenticationError
from dockyard.policy import PolicyDocument
from dockyard.policy.engine import BUILTIN_POLICIES
from dockyard.services.access import Principal
from dockyard.services.audit import AuditLog
from dockyard.services.credentials import (
    ACCESS_KEY_ID_RE,
    STS_PREFIX,
    Authenticated,
    CredentialVerifier,
    TokenService,
)

#: The header carrying the security token of STS credentials.
SECURITY_TOKEN_HEADER = "X-Dockyard-Security-Token"  # noqa: S105 - a header name

#: With authentication disabled (``--insecure-no-auth``) every management caller is this one.
UNAUTHENTICATED_ADMIN = Principal(
    name="anonymous",
    user_id=None,
    policies=(
        PolicyDocument.parse("AdministratorAccess", BUILTIN_POLICIES["AdministratorAccess"]),
    ),
)


def client_address(request: HTTPConnection) -> str | None:
    """The caller's address (after the trusted-proxy middleware rewrote it)."""
    return request.client.host if request.client else None


def parse_basic(header: str) -> tuple[str, str] | None:
    """``(user, secret)`` of a Basic ``Authorization`` header; None for another scheme."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("malformed Basic credentials") from exc
    if not sep:
        raise AuthenticationError("malformed Basic credentials")
    return user, password


async def authenticate(
    request: HTTPConnection, tokens: TokenService, verifier: CredentialVerifier, audit: AuditLog
) -> Authenticated:
    """Who a management caller (API, console) is and how they proved it:

    * ``Bearer <session token>`` (console sign-in; refused once the session epoch moved on);
    * ``Basic AccessKeyId:AccessKeySecret`` (ids ``AK`` + 22 alphanumerics);
    * ``Basic STS-id:secret`` + ``X-Dockyard-Security-Token`` (ids start with ``STS.``);
    * ``Basic username:console password`` (scripts).
    """
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationError("authentication required: a Bearer session token or Basic")
    address = client_address(request)
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        principal = await session_principal(value.strip(), tokens, verifier, audit, address)
        return Authenticated(principal, "session")
    if scheme.lower() != "basic":
        raise AuthenticationError(f"unsupported authorization scheme {scheme!r}")
    basic = parse_basic(header)
    if basic is None:
        raise AuthenticationError("malformed Basic credentials")
    user, secret = basic
    security_token = request.headers.get(SECURITY_TOKEN_HEADER)
    if security_token is not None or user.startswith(STS_PREFIX):
        if not user.startswith(STS_PREFIX) or not security_token:
            raise AuthenticationError(
                f"STS credentials need both Basic STS-id:secret and the {SECURITY_TOKEN_HEADER} "
                "header"
            )
        return await verifier.authenticate_sts(
            user, secret, security_token.strip(), address=address
        )
    if ACCESS_KEY_ID_RE.fullmatch(user):
        return await verifier.authenticate_access_key(user, secret, address=address)
    principal = await verifier.verify_console(user, secret, address=address)
    return Authenticated(principal, "console-password")


async def session_principal(
    token: str,
    tokens: TokenService,
    verifier: CredentialVerifier,
    audit: AuditLog,
    address: str | None,
    *,
    face: str = "api",
) -> Principal:
    """Who holds a console session token (the API's Bearer, the console's cookie): refused,
    and the refusal audited, once it expired or its session ended (sign-out, password change,
    user disabled)."""
    try:
        username, user_id, epoch = tokens.verify_session(token)
    except AuthenticationError as exc:
        await audit.record(
            actor="anonymous",
            action="authenticate",
            outcome="failure",
            source_ip=address or "",
            resource=face,
            detail={"method": "session", "reason": exc.message},
        )
        raise
    return await verifier.principal_for_session(username, user_id, epoch, address=address)
