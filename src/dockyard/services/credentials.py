"""Registry credentials and Docker registry tokens.

Basic credentials are verified with argon2 (deliberately slow), so a verified pair is
cached for a short time under an HMAC of the pair keyed by the master key: the cache never
holds the secret itself. Tokens are ES256 JWTs with a ``kid``; the key pair lives in the
database with the private half encrypted, so every worker and node signs with the same key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from dockyard.errors import AuthenticationError
from dockyard.metadata.models import SigningKey
from dockyard.metadata.queries import identity as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.policy import PolicyDocument
from dockyard.services.access import Principal
from dockyard.services.secrets import MasterKey

BASIC_CACHE_SECONDS = 30
BASIC_CACHE_ENTRIES = 1024
REFRESH_TOKEN_SECONDS = 7 * 24 * 3600
#: Lifetime of a management API session token (``POST /api/v1/auth/signin``).
SESSION_TOKEN_SECONDS = 12 * 3600
SIGNING_PURPOSE = "token-signing-key"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: argon2 is deliberately slow and memory-hungry."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify_password(hashed: str | None, password: str) -> bool:
    """Constant-work check: an unknown user costs the same argon2 run as a known one."""
    try:
        return _hasher.verify(hashed or _dummy_hash(), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


class CredentialVerifier:
    """Turns a user name and registry password into a Principal."""

    def __init__(self, db: Database, master: MasterKey) -> None:
        self._db = db
        self._mac_key = hashlib.sha256(master.raw + b"basic-cache").digest()
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    async def verify(self, username: str, password: str) -> Principal:
        """The registry password (``docker login``)."""
        return await self._verify_cached(username, password, console=False)

    async def verify_console(self, username: str, password: str) -> Principal:
        """The console password: management API sign-in and HTTP Basic."""
        return await self._verify_cached(username, password, console=True)

    async def _verify_cached(self, username: str, password: str, *, console: bool) -> Principal:
        pair = f"{'console' if console else 'registry'}\0{username}\0{password}"
        key = hmac.new(self._mac_key, pair.encode(), hashlib.sha256).digest()
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        principal = await self._verify_uncached(username, password, console=console)
        self._cache[key] = (now + BASIC_CACHE_SECONDS, principal)
        while len(self._cache) > BASIC_CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return principal

    async def _verify_uncached(
        self, username: str, password: str, *, console: bool = False
    ) -> Principal:
        async with self._db.read() as session:
            account = await tq.find_account(session)
            user = await q.find_user(session, account.id, username) if account else None
            if user is None or user.disabled:
                await anyio.to_thread.run_sync(_verify_password, None, password)
                raise AuthenticationError("invalid username or password")
            hashed = user.password_hash if console else user.registry_password_hash
            policies = await q.policies_of_user(session, user.id)
        if not await anyio.to_thread.run_sync(_verify_password, hashed, password):
            raise AuthenticationError("invalid username or password")
        return await self.principal_for(user.username, str(user.id), policies)

    async def principal_for_user_id(self, username: str, user_id: str) -> Principal:
        """The principal behind a refresh token: policies are read fresh, never cached."""
        async with self._db.read() as session:
            account = await tq.find_account(session)
            user = await q.find_user(session, account.id, username) if account else None
            if user is None or user.disabled or str(user.id) != user_id:
                raise AuthenticationError("the refresh token's user no longer exists")
            policies = await q.policies_of_user(session, user.id)
        return await self.principal_for(username, user_id, policies)

    @staticmethod
    async def principal_for(
        username: str, user_id: str, policies: Sequence[tuple[str, dict[str, Any]]]
    ) -> Principal:
        docs = tuple(PolicyDocument.parse(name, doc) for name, doc in policies)
        return Principal(name=username, user_id=user_id, policies=docs)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    type: str
    name: str
    actions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


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
    """Issues and verifies registry tokens (Docker token authentication)."""

    def __init__(
        self, db: Database, master: MasterKey, *, issuer: str, service: str, ttl: int
    ) -> None:
        self._db = db
        self._master = master
        self.issuer = issuer
        self.service = service
        self.ttl = ttl
        self._signing: ECKey | None = None
        self._keys: KeySet | None = None
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

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
        now = int(time.time())
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

    def issue_refresh(self, principal: Principal, instance_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:refresh",
            "iat": now,
            "exp": now + REFRESH_TOKEN_SECONDS,
            "jti": uuid.uuid4().hex,
            "ins": instance_id,
            "uid": principal.user_id,
        }
        return self._sign(claims)

    def issue_session(self, principal: Principal) -> tuple[str, int]:
        """A management API session token (its own audience: never a registry token)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": f"{self.service}:api",
            "iat": now,
            "nbf": now - 5,
            "exp": now + SESSION_TOKEN_SECONDS,
            "jti": uuid.uuid4().hex,
            "uid": principal.user_id,
        }
        return self._sign(claims), SESSION_TOKEN_SECONDS

    def verify_session(self, token: str) -> tuple[str, str]:
        """(user name, user id) of a management API session token."""
        claims = self._decode(token, f"{self.service}:api")
        if not claims.get("uid"):
            raise AuthenticationError("invalid token: no user")
        return str(claims["sub"]), str(claims["uid"])

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        assert self._keys is not None
        try:
            decoded = jwt.decode(token, self._keys, algorithms=["ES256"])
            registry = jwt.JWTClaimsRegistry(
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
            if cached.expires_at > time.time():
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
        claims = self._decode(token, f"{self.service}:refresh")
        if not claims.get("uid"):
            raise AuthenticationError("anonymous refresh tokens do not exist")
        return str(claims["sub"]), str(claims["uid"]), str(claims.get("ins", ""))


def new_signing_key(master: MasterKey) -> SigningKey:
    kid = uuid.uuid4().hex
    key = ECKey.generate_key("P-256", parameters={"kid": kid})
    return SigningKey(
        kid=kid,
        algorithm="ES256",
        private_key_encrypted=master.encrypt(key.as_pem(private=True), SIGNING_PURPOSE),
        public_jwk=key.as_dict(private=False),
    )
