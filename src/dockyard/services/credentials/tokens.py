"""Signed tokens: Docker registry tokens, refresh, session, temporary-credential and STS
security tokens, all ES256 JWTs under the signing key every worker and node shares."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import (
    AuthenticationError,
)
from dockyard.metadata.models import SigningKey
from dockyard.metadata.queries import identity as q
from dockyard.metadata.session import Database
from dockyard.services.access import Principal
from dockyard.services.credentials.views import (
    Authenticated,
)
from dockyard.services.secrets import MasterKey

REFRESH_TOKEN_SECONDS = 7 * 24 * 3600
#: Lifetime of a management API session token (``POST /api/v1/auth/signin``).
SESSION_TOKEN_SECONDS = 12 * 3600
SIGNING_PURPOSE = "token-signing-key"


@dataclass(frozen=True, slots=True)
class AccessEntry:
    type: str
    name: str
    actions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    username: str
    user_id: str
    instance_id: str
    #: The STS credentials behind the temporary credentials the token was made from.
    sts_id: str | None = None
    #: The registry password version the token was made from.
    password_version: int | None = None


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    user_id: str | None
    instance_id: str
    access: tuple[AccessEntry, ...]
    expires_at: float

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(
            e.type == type_ and e.name == name and (action in e.actions or "*" in e.actions)
            for e in self.access
        )


class TokenService:
    """Issues and verifies registry tokens (Docker token authentication), session tokens,
    temporary registry credentials and STS security tokens, each with its own audience."""

    def __init__(
        self,
        db: Database,
        master: MasterKey,
        *,
        issuer: str,
        service: str,
        ttl: int,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._master = master
        self.issuer = issuer
        self.service = service
        self.ttl = ttl
        self._clock = clock
        self._signing: ECKey | None = None
        self._keys: KeySet | None = None
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    async def load_keys(self) -> None:
        async with self._db.read() as session:
            rows = await q.active_signing_keys(session)
        if not rows:
            raise AuthenticationError("no token signing key; run the first-start setup")
        keys = [
            ECKey.import_key(
                self._master.decrypt(row.private_key_encrypted, SIGNING_PURPOSE),
                parameters={"kid": row.kid},
            )
            for row in rows
        ]
        self._signing = keys[-1]
        self._keys = KeySet(keys)  # type: ignore[arg-type]

    def public_jwks(self) -> dict[str, Any]:
        assert self._keys is not None
        return {"keys": [k.as_dict(private=False) for k in self._keys.keys]}

    def _sign(self, claims: dict[str, Any]) -> str:
        assert self._signing is not None
        header = {"alg": "ES256", "typ": "JWT", "kid": self._signing.kid}
        return jwt.encode(header, claims, self._signing, algorithms=["ES256"])

    def issue(
        self, principal: Principal, instance_id: str, access: Sequence[AccessEntry]
    ) -> tuple[str, int]:
        now = self._now()
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": self.service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "ins": instance_id,
            "uid": principal.user_id,
            "access": [a.to_json() for a in access],
        }
        return self._sign(claims), self.ttl

    def issue_refresh(
        self, principal: Principal, instance_id: str, login: Authenticated | None = None
    ) -> str:
        """A refresh token (OAuth2 offline access); it never outlives the credential it was
        made from: temporary credentials' expiry, STS validity, the registry password."""
        now = self._now()
        expires = now + REFRESH_TOKEN_SECONDS
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:refresh",
            "iat": now,
            "jti": uuid.uuid4().hex,
            "ins": instance_id,
            "uid": principal.user_id,
        }
        if login is not None:
            if login.expires_at is not None:
                expires = min(expires, int(login.expires_at.timestamp()))
            if login.method == "temporary" and login.credential_id is not None:
                claims["sts"] = login.credential_id
            if login.password_version is not None:
                claims["pwv"] = login.password_version
        claims["exp"] = expires
        return self._sign(claims)

    def issue_session(self, principal: Principal, *, epoch: int) -> tuple[str, int]:
        """A management API session token (its own audience: never a registry token).

        ``epoch`` is the user's ``session_epoch`` now; the token dies when it moves on
        (``CredentialVerifier.issue_session`` reads it for you).
        """
        now = self._now()
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:api",
            "iat": now,
            "nbf": now - 5,
            "exp": now + SESSION_TOKEN_SECONDS,
            "jti": uuid.uuid4().hex,
            "uid": principal.user_id,
            "epoch": epoch,
        }
        return self._sign(claims), SESSION_TOKEN_SECONDS

    def verify_session(self, token: str) -> tuple[str, str, int]:
        """(user name, user id, session epoch) of a management API session token."""
        claims = self._decode(token, f"{self.service}:api")
        if not claims.get("uid"):
            raise AuthenticationError("invalid token: no user")
        epoch = claims.get("epoch")
        if not isinstance(epoch, int):
            raise AuthenticationError("invalid token: no session epoch; sign in again")
        return str(claims["sub"]), str(claims["uid"]), epoch

    def issue_temporary(
        self, principal: Principal, expires_at: datetime, *, sts_id: str | None = None
    ) -> str:
        """The password of temporary registry credentials (user ``cr_temp_user``)."""
        now = self._now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:temp",
            "iat": now,
            "nbf": now - 5,
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            "uid": principal.user_id,
        }
        if sts_id is not None:
            claims["sts"] = sts_id
        return self._sign(claims)

    def verify_temporary(self, token: str) -> tuple[str, str | None, datetime]:
        """(user id, STS id or None, expiry) of a temporary registry password."""
        claims = self._decode(token, f"{self.service}:temp")
        uid = claims.get("uid")
        if not isinstance(uid, str) or not uid:
            raise AuthenticationError("invalid token: no user")
        sts = claims.get("sts")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return uid, sts if isinstance(sts, str) else None, expires

    def issue_security_token(self, sts_id: str, user_id: str, expires_at: datetime) -> str:
        now = self._now()
        claims = {
            "iss": self.issuer,
            "sub": sts_id,
            "aud": f"{self.service}:sts",
            "iat": now,
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            "uid": user_id,
        }
        return self._sign(claims)

    def verify_security_token(self, token: str) -> str:
        """The STS id a security token was issued for."""
        return str(self._decode(token, f"{self.service}:sts").get("sub", ""))

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        assert self._keys is not None
        try:
            decoded = jwt.decode(token, self._keys, algorithms=["ES256"])
            registry = jwt.JWTClaimsRegistry(
                now=self._now,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": audience},
                exp={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        return decoded.claims

    def verify(self, token: str) -> TokenClaims:
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > self._clock.now().timestamp():
                return cached
            del self._verified[token]
        claims = self._decode(token, self.service)
        access = tuple(
            AccessEntry(
                str(a.get("type")), str(a.get("name")), tuple(map(str, a.get("actions", [])))
            )
            for a in claims.get("access", [])
            if isinstance(a, dict)
        )
        result = TokenClaims(
            subject=str(claims.get("sub", "")),
            user_id=claims.get("uid"),
            instance_id=str(claims.get("ins", "")),
            access=access,
            expires_at=float(claims["exp"]),
        )
        self._verified[token] = result
        while len(self._verified) > 4096:
            self._verified.popitem(last=False)
        return result

    def verify_refresh(self, token: str) -> tuple[str, str, str]:
        """(user name, user id, instance id) of a refresh token."""
        found = self.verify_refresh_claims(token)
        return found.username, found.user_id, found.instance_id

    def verify_refresh_claims(self, token: str) -> RefreshClaims:
        claims = self._decode(token, f"{self.service}:refresh")
        if not claims.get("uid"):
            raise AuthenticationError("anonymous refresh tokens do not exist")
        sts, pwv = claims.get("sts"), claims.get("pwv")
        return RefreshClaims(
            str(claims["sub"]),
            str(claims["uid"]),
            str(claims.get("ins", "")),
            sts if isinstance(sts, str) else None,
            pwv if isinstance(pwv, int) else None,
        )


def new_signing_key(master: MasterKey) -> SigningKey:
    kid = uuid.uuid4().hex
    key = ECKey.generate_key("P-256", parameters={"kid": kid})
    return SigningKey(
        kid=kid,
        algorithm="ES256",
        private_key_encrypted=master.encrypt(key.as_pem(private=True), SIGNING_PURPOSE),
        public_jwk=key.as_dict(private=False),
    )
