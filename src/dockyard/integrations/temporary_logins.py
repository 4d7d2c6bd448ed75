"""Temporary Dockyard credentials obtained with an access key, cached on disk.

What the kubelet credential provider and the docker credential helper share: both read
an access key (a key file, or ``DOCKYARD_ACCESS_KEY_ID`` / ``DOCKYARD_ACCESS_KEY_SECRET`` as
the CLI reads them), trade it for temporary credentials (GetAuthorizationToken, one hour)
and keep those in a ``0600`` file until they expire within a threshold. The access key
never leaves the machine except towards the Dockyard it belongs to.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dockyard.cli.client import (
    ApiClient,
    ApiError,
    CliError,
    Credential,
    normalize_server,
    write_private,
)

DEFAULT_THRESHOLD = "15m"
KEY_FILE_ENV = "DOCKYARD_ACCESS_KEY_FILE"
KEY_ID_ENV = "DOCKYARD_ACCESS_KEY_ID"
KEY_SECRET_ENV = "DOCKYARD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
SECURITY_TOKEN_ENV = "DOCKYARD_SECURITY_TOKEN"  # noqa: S105 - a variable name
CACHE_DIR_ENV = "DOCKYARD_CREDENTIAL_CACHE_DIR"
THRESHOLD_ENV = "DOCKYARD_EXPIRING_THRESHOLD"

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class CredentialError(Exception):
    """A failure the plug-in reports as its protocol says, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def parse_duration(text: str) -> timedelta:
    """``1h30m``, ``15m``, ``90s`` (the Go duration spellings of whole seconds)."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise CredentialError(f"not a duration: {text!r} (use e.g. 15m, 1h, 90s)", 2)
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    secret: str
    security_token: str | None = None

    def credential(self, server: str) -> Credential:
        basic = Credential.basic_of(self.access_key_id, self.secret)
        return Credential(
            server,
            "",
            basic=basic,
            access_key_id=self.access_key_id,
            security_token=self.security_token,
        )


def load_access_key(key_file: Path | None) -> AccessKey:
    """The key file (the JSON ``dockyard access-key create --json`` prints) when given, else
    the ``DOCKYARD_ACCESS_KEY_ID`` / ``DOCKYARD_ACCESS_KEY_SECRET`` variables, as the CLI."""
    if key_file is not None:
        try:
            data = json.loads(key_file.read_text())
        except (OSError, ValueError) as exc:
            raise CredentialError(f"cannot read the access key file {key_file}: {exc}") from exc
        found = data if isinstance(data, dict) else {}
        key_id, secret = found.get("accessKeyId"), found.get("accessKeySecret")
        token = found.get("securityToken")
        if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
            raise CredentialError(f"{key_file} has no accessKeyId and accessKeySecret")
        return AccessKey(key_id, secret, token if isinstance(token, str) and token else None)
    key_id, secret = os.environ.get(KEY_ID_ENV), os.environ.get(KEY_SECRET_ENV)
    if not key_id or not secret:
        raise CredentialError(
            f"no access key: set {KEY_FILE_ENV}, or {KEY_ID_ENV} and {KEY_SECRET_ENV}", 2
        )
    return AccessKey(key_id, secret, os.environ.get(SECURITY_TOKEN_ENV) or None)


@dataclass(frozen=True, slots=True)
class TemporaryLogin:
    username: str
    password: str
    expires_at: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "username": self.username,
            "password": self.password,
            "expiresAt": self.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> TemporaryLogin | None:
        """``None`` unless ``data`` is a whole login (a corrupt cache or answer)."""
        if not isinstance(data, dict):
            return None
        username, password = data.get("username"), data.get("password")
        try:
            expires = datetime.fromisoformat(str(data.get("expiresAt")))
        except ValueError:
            return None
        if not isinstance(username, str) or not isinstance(password, str) or not password:
            return None
        if expires.tzinfo is None:
            return None
        return cls(username, password, expires)


class LoginCache:
    """One file per (server, access key) in a ``0700`` directory, each written ``0600``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, server: str, access_key_id: str) -> Path:
        digest = hashlib.sha256(f"{server}\n{access_key_id}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def load(self, server: str, access_key_id: str) -> TemporaryLogin | None:
        try:
            data = json.loads(self.path_for(server, access_key_id).read_text())
        except (OSError, ValueError):
            return None  # missing or corrupt: a fresh login replaces it
        return TemporaryLogin.from_json(data)

    def store(self, server: str, access_key_id: str, login: TemporaryLogin) -> None:
        entry = {"server": server, **login.as_json()}
        write_private(self.path_for(server, access_key_id), json.dumps(entry))

    def forget(self, server: str, access_key_id: str) -> None:
        self.path_for(server, access_key_id).unlink(missing_ok=True)


def default_cache_dir(plugin: str) -> Path:
    """``$XDG_CACHE_HOME/dockyard/<plugin>`` (``~/.cache/…``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dockyard" / plugin


class NotADockyard(Exception):
    """The registry did not answer as a Dockyard: it gets no credentials."""


def fetch_login(server: str, key: AccessKey) -> TemporaryLogin:
    """``POST /api/v1/auth/authorization-token`` with the access key."""
    try:
        with ApiClient.for_credential(server, key.credential(server)) as client:
            body = client.call("POST", "/auth/authorization-token")
    except ApiError as exc:
        dockyard_refusal = not exc.code.startswith("HTTP_")
        if exc.status in (401, 403) and dockyard_refusal:
            raise CredentialError(
                f"{server} refused the access key {key.access_key_id}: {exc.message} "
                "(revoked or disabled? configure a valid key)"
            ) from exc
        raise NotADockyard(f"{server} answered {exc.status}: {exc.message}") from exc
    except CliError as exc:
        raise NotADockyard(exc.message) from exc
    fields = body if isinstance(body, dict) else {}
    login = TemporaryLogin.from_json(
        {
            "username": fields.get("tempUsername"),
            "password": fields.get("authorizationToken"),
            "expiresAt": fields.get("expiresAt"),
        }
    )
    if login is None:
        raise NotADockyard(f"{server} did not answer with temporary credentials")
    return login


@dataclass(frozen=True, slots=True)
class TemporaryLogins:
    """Where the access key is and where its temporary credentials are kept."""

    key_file: Path | None
    cache: LoginCache
    threshold: timedelta

    @classmethod
    def from_environment(cls, plugin: str) -> TemporaryLogins:
        """For a plug-in run without arguments: ``DOCKYARD_ACCESS_KEY_FILE``,
        ``DOCKYARD_CREDENTIAL_CACHE_DIR`` (default: :func:`default_cache_dir` of ``plugin``)
        and ``DOCKYARD_EXPIRING_THRESHOLD``."""
        key_file, cache_dir = os.environ.get(KEY_FILE_ENV), os.environ.get(CACHE_DIR_ENV)
        return cls(
            key_file=Path(key_file) if key_file else None,
            cache=LoginCache(Path(cache_dir) if cache_dir else default_cache_dir(plugin)),
            threshold=parse_duration(os.environ.get(THRESHOLD_ENV) or DEFAULT_THRESHOLD),
        )

    def access_key(self) -> AccessKey:
        return load_access_key(self.key_file)

    def login_for(self, host: str, now: datetime, warn: Callable[[str], None]) -> TemporaryLogin:
        """The cached login for ``host`` unless it expires within the threshold."""
        server = normalize_server(host)
        key = self.access_key()
        key_id = key.access_key_id
        cached = self.cache.load(server, key_id)
        if cached is not None and cached.expires_at - now > self.threshold:
            return cached
        login = fetch_login(server, key)
        try:
            self.cache.store(server, key_id, login)
        except OSError as exc:  # the next pull signs in again: no reason to fail this one
            warn(f"cannot cache the credentials in {self.cache.directory}: {exc}")
        return login

    def forget(self, host: str) -> None:
        """Drop the cached login of ``host``: the next request signs in anew."""
        self.cache.forget(normalize_server(host), self.access_key().access_key_id)
