"""The Docker token endpoint: GET with Basic + ``scope``, POST with the OAuth2 password
and refresh-token grants. Grants exactly what ``authorize`` allows at issue time.

Credentials are the registry password or temporary credentials (``cr_temp_user``); the
user's logon policy is applied with the client address; too many failures from one
address answer 429 with ``Retry-After`` (``services.credentials.ratelimit``)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response

from dockyard.authn import client_address, parse_basic
from dockyard.errors import AuthenticationError, InvalidInputError, TooManyRequestsError
from dockyard.oci.errorcodes import ErrorCode
from dockyard.oci.reference import RepositoryName
from dockyard.registry.auth import RegistryAuth
from dockyard.registry.errors import error_response
from dockyard.services.access import (
    ANONYMOUS,
    LIST_REPOSITORY,
    SCOPE_ACTIONS,
    InstanceRef,
    Principal,
    Resource,
    authorize,
)
from dockyard.services.credentials import AccessEntry, Authenticated
from dockyard.services.tenancy import TenancyService


class TokenEndpoint:
    def __init__(self, auth: RegistryAuth, tenancy: TenancyService) -> None:
        self._auth = auth
        self._tenancy = tenancy

    async def _grant(
        self, principal: Principal, instance: InstanceRef, scopes: list[str]
    ) -> list[AccessEntry]:
        granted: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            type_, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if type_ == "registry" and name == "catalog":
                if authorize(principal, LIST_REPOSITORY, Resource("*")).allowed:
                    granted.setdefault(("registry", "catalog"), []).append("*")
                continue
            if type_.split("(")[0] != "repository" or not name:
                continue
            try:
                repo_name = RepositoryName.parse(name)
            except InvalidInputError:
                continue
            repo = await self._tenancy.find_repository(instance.id, repo_name)
            resource = Resource(
                instance.repository_arn(str(repo_name)), public=bool(repo and repo.public)
            )
            wanted = {a.strip() for a in actions.split(",") if a.strip()}
            if "*" in wanted:
                wanted = set(SCOPE_ACTIONS)
            entry = granted.setdefault(("repository", str(repo_name)), [])
            for action in sorted(wanted & set(SCOPE_ACTIONS)):
                if (
                    authorize(principal, SCOPE_ACTIONS[action], resource).allowed
                    and action not in entry
                ):
                    entry.append(action)
        return [AccessEntry(t, n, tuple(a)) for (t, n), a in granted.items() if a]

    def _foreign_service(self, asked: list[str]) -> str | None:
        """The first ``service`` asked for that is not this registry's (none asked: None)."""
        return next((service for service in asked if service != self._auth.tokens.service), None)

    def _not_ours(self, service: str) -> str:
        ours = self._auth.tokens.service
        return f"this registry issues tokens for service {ours!r}, not {service!r}"

    async def get(self, request: Request, instance: InstanceRef) -> Response:
        foreign = self._foreign_service(request.query_params.getlist("service"))
        if foreign is not None:
            return error_response(ErrorCode.UNAUTHORIZED, self._not_ours(foreign))
        header = request.headers.get("authorization")
        principal = ANONYMOUS
        login: Authenticated | None = None
        try:
            if header:
                basic = parse_basic(header)
                if basic is None:
                    raise AuthenticationError("the token endpoint takes Basic credentials")
                login = await self._auth.verifier.login(*basic, address=client_address(request))
                principal = login.principal
        except TooManyRequestsError as exc:
            return _too_many(exc)
        except AuthenticationError as exc:
            return error_response(ErrorCode.UNAUTHORIZED, exc.message)
        scopes = request.query_params.getlist("scope")
        access = await self._grant(
            principal, instance, [s for scope in scopes for s in scope.split(" ") if s]
        )
        token, ttl = self._auth.tokens.issue(principal, instance.id, access)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": datetime.now(UTC).isoformat(),
        }
        if request.query_params.get("offline_token") == "true" and not principal.anonymous:
            body["refresh_token"] = self._auth.tokens.issue_refresh(principal, instance.id, login)
        return Response(orjson.dumps(body), media_type="application/json")

    async def post(self, request: Request, instance: InstanceRef) -> Response:
        form = await _read_form(request)
        if form is None:
            return _oauth_error(
                "invalid_request", "expected an application/x-www-form-urlencoded body", 400
            )
        foreign = self._foreign_service(
            request.query_params.getlist("service") + form.getlist("service")
        )
        if foreign is not None:
            return _oauth_error("invalid_grant", self._not_ours(foreign), 401)
        grant = form.get("grant_type")
        login: Authenticated | None = None
        try:
            if grant == "password":
                username, password = form.get("username"), form.get("password")
                if username is None or password is None:
                    return _oauth_error(
                        "invalid_request", "username and password are required", 400
                    )
                login = await self._auth.verifier.login(
                    username, password, address=client_address(request)
                )
                principal = login.principal
            elif grant == "refresh_token":
                refresh = form.get("refresh_token")
                if refresh is None:
                    return _oauth_error("invalid_request", "refresh_token is required", 400)
                claims = self._auth.tokens.verify_refresh_claims(refresh)
                if claims.instance_id != instance.id:
                    raise AuthenticationError("the refresh token belongs to another instance")
                principal = await self._auth.verifier.principal_for_user_id(
                    claims.username,
                    claims.user_id,
                    address=client_address(request),
                    logon=True,
                    refresh=claims,
                )
            else:
                return _oauth_error(
                    "unsupported_grant_type", f"grant_type {grant!r} is not supported", 400
                )
        except TooManyRequestsError as exc:
            return _too_many(exc)
        except AuthenticationError as exc:
            return _oauth_error("invalid_grant", exc.message, 401)
        scopes = [
            s
            for value in form.getlist("scope")
            if isinstance(value, str)
            for s in value.split(" ")
            if s
        ]
        access = await self._grant(principal, instance, scopes)
        token, ttl = self._auth.tokens.issue(principal, instance.id, access)
        body = {
            "access_token": token,
            "token": token,
            "expires_in": ttl,
            "scope": " ".join(scopes),
            "issued_at": datetime.now(UTC).isoformat(),
        }
        if grant == "refresh_token":
            body["refresh_token"] = form["refresh_token"]
        elif form.get("access_type") == "offline":
            body["refresh_token"] = self._auth.tokens.issue_refresh(principal, instance.id, login)
        return Response(orjson.dumps(body), media_type="application/json")


MAX_FORM_BYTES = 64 * 1024


class _Form:
    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, key: str) -> str | None:
        values = self._fields.get(key)
        return values[0] if values else None

    def getlist(self, key: str) -> list[str]:
        return self._fields.get(key, [])

    def __getitem__(self, key: str) -> str:
        return self._fields[key][0]


async def _read_form(request: Request) -> _Form | None:
    """The OAuth2 form body; small and urlencoded, so parsed here without a multipart stack."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return _Form(parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        return None


def _too_many(exc: TooManyRequestsError) -> Response:
    """429 TOOMANYREQUESTS with Retry-After: too many failed logins from this address."""
    return error_response(
        ErrorCode.TOOMANYREQUESTS, exc.message, headers={"Retry-After": str(exc.retry_after)}
    )


def _oauth_error(code: str, description: str, status: int) -> Response:
    return Response(
        orjson.dumps({"error": code, "error_description": description}),
        status_code=status,
        media_type="application/json",
    )
