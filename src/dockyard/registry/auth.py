"""Who the caller is and whether the registry serves them: Docker token authentication.

Bearer tokens carry what ``authorize`` allowed when they were issued; Basic credentials
(the registry password, or temporary credentials ``cr_temp_user``) and anonymous callers
are decided by ``authorize`` on the spot. Either way, refusals carry a Bearer challenge so
clients know where to get a token. Too many failed Basic authentications from one address
are refused with 429 (``services.credentials.ratelimit``), which is not a challenge.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dockyard.authn import client_address, parse_basic
from dockyard.errors import AuthenticationError, DeniedError
from dockyard.oci.reference import RepositoryName
from dockyard.services.access import (
    ANONYMOUS,
    DELETE_TAG,
    LIST_REPOSITORY,
    PULL,
    PUSH,
    InstanceRef,
    Principal,
    Resource,
    authorize,
)
from dockyard.services.credentials import CredentialVerifier, TokenClaims, TokenService

#: Policy action → (token scope action, the actions a challenge asks for).
_SCOPE = {PULL: ("pull", "pull"), PUSH: ("push", "pull,push"), DELETE_TAG: ("delete", "delete")}


class ChallengeError(AuthenticationError):
    """401 with a ``WWW-Authenticate: Bearer`` challenge."""

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal | None
    claims: TokenClaims | None

    @property
    def name(self) -> str:
        if self.claims is not None:
            return self.claims.subject
        return self.principal.name if self.principal else ""


class RegistryAuth:
    def __init__(
        self, tokens: TokenService, verifier: CredentialVerifier, *, disabled: bool
    ) -> None:
        self.tokens = tokens
        self.verifier = verifier
        self.disabled = disabled

    def realm(self, base_url: str) -> str:
        return f"{base_url}/auth/token"

    def challenge(self, base_url: str, scope: str | None, error: str | None = None) -> str:
        parts = [f'Bearer realm="{self.realm(base_url)}"', f'service="{self.tokens.service}"']
        if scope:
            parts.append(f'scope="{scope}"')
        if error:
            parts.append(f'error="{error}"')
        return ",".join(parts)

    async def identify(self, request: Request, base_url: str, scope: str | None) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            return Caller(None, None)
        scheme = header.split(" ", 1)[0].lower()
        try:
            if scheme == "bearer":
                return Caller(None, self.tokens.verify(header[7:].strip()))
            basic = parse_basic(header)
            if basic is None:
                raise AuthenticationError(f"unsupported authorization scheme {scheme!r}")
            return Caller(await self.verifier.verify(*basic, address=client_address(request)), None)
        except ChallengeError:
            raise
        except AuthenticationError as exc:
            raise ChallengeError(
                exc.message, self.challenge(base_url, scope, "invalid_token")
            ) from exc

    async def require_login(self, request: Request, base_url: str) -> Caller:
        """``GET /v2/``: any valid credential (or token) will do."""
        if self.disabled:
            return Caller(ANONYMOUS, None)
        caller = await self.identify(request, base_url, None)
        if caller.principal is None and caller.claims is None:
            raise ChallengeError("authentication required", self.challenge(base_url, None))
        return caller

    async def require(
        self,
        request: Request,
        base_url: str,
        instance: InstanceRef,
        action: str,
        name: RepositoryName | None,
        public: bool = False,
    ) -> Caller:
        """Allow the request or raise; ``name`` None means the registry catalog."""
        if self.disabled:
            return Caller(ANONYMOUS, None)
        if name is None:
            scope, token_type, token_name, token_action = (
                "registry:catalog:*",
                "registry",
                "catalog",
                "*",
            )
            resource = Resource("*")
        else:
            token_action, challenge_actions = _SCOPE[action]
            scope = f"repository:{name}:{challenge_actions}"
            token_type, token_name = "repository", str(name)
            resource = Resource(instance.repository_arn(str(name)), public=public)
        caller = await self.identify(request, base_url, scope)
        if caller.claims is not None:
            claims = caller.claims
            if claims.instance_id == instance.id and claims.allows(
                token_type, token_name, token_action
            ):
                return caller
            # A token without the scope: challenge again, so the client asks for a token
            # with it (a user lacking the permission gets another token without it). Public
            # repositories too: the token endpoint grants their pull to anyone, except to a
            # user whose policies explicitly Deny it, so no token is waved through here.
            raise ChallengeError(
                "authentication required", self.challenge(base_url, scope, "insufficient_scope")
            )
        principal = caller.principal or ANONYMOUS
        if authorize(principal, action if name else LIST_REPOSITORY, resource).allowed:
            return caller
        if principal.anonymous:
            raise ChallengeError("authentication required", self.challenge(base_url, scope))
        raise DeniedError("requested access to the resource is denied")


__all__ = [
    "DELETE_TAG",
    "PULL",
    "PUSH",
    "Caller",
    "ChallengeError",
    "RegistryAuth",
]
