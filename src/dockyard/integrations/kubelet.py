"""``dockyard-credential-provider``: the kubelet credential provider exec plugin.

The kubelet runs it for every image matching its ``CredentialProviderConfig``, writes a
``CredentialProviderRequest`` (``credentialprovider.kubelet.k8s.io/v1``) on its stdin and
reads a ``CredentialProviderResponse`` from its stdout. The plugin signs in to the Dockyard
named by the image's host with an access key and hands out temporary credentials
(GetAuthorizationToken, one hour), so no pull secret or long-lived password sits in the
cluster. They are cached on disk (``0600``) and renewed once they expire within the
threshold; ``cacheDuration`` ends before that, so the kubelet asks again in time.

An image of a registry that is not configured, not reachable or not a Dockyard gets an empty
``auth`` (the kubelet then pulls without credentials): one such registry never blocks
pulls from others. A refused access key is the one failure that exits non-zero, with the
reason on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import (
    ApiClient,
    ApiError,
    CliError,
    Credential,
    normalize_server,
    write_private,
)

PROVIDER_NAME = "dockyard-credential-provider"
CONFIG_API_VERSION = "kubelet.config.k8s.io/v1"
REQUEST_API_VERSION = "credentialprovider.kubelet.k8s.io/v1"
#: Older versions of the same types, still sent by a kubelet configured for them.
ACCEPTED_API_VERSIONS = (
    REQUEST_API_VERSION,
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
)
CACHE_KEY_TYPES = ("Image", "Registry", "Global")
DEFAULT_THRESHOLD = "15m"
KEY_FILE_ENV = "DOCKYARD_ACCESS_KEY_FILE"
KEY_ID_ENV = "DOCKYARD_ACCESS_KEY_ID"
KEY_SECRET_ENV = "DOCKYARD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
SECURITY_TOKEN_ENV = "DOCKYARD_SECURITY_TOKEN"  # noqa: S105 - a variable name
CACHE_DIR_ENV = "DOCKYARD_CREDENTIAL_CACHE_DIR"
THRESHOLD_ENV = "DOCKYARD_EXPIRING_THRESHOLD"

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class ProviderError(Exception):
    """Printed on stderr; the plugin exits with ``exit_code`` and writes no response."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def parse_duration(text: str) -> timedelta:
    """``1h30m``, ``15m``, ``90s`` (the Go duration spellings of whole seconds)."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ProviderError(f"not a duration: {text!r} (use e.g. 15m, 1h, 90s)", 2)
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def go_duration(delta: timedelta) -> str:
    """A ``meta/v1.Duration`` as the kubelet parses it: ``44m58s``, ``0s``."""
    total = max(0, int(delta.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{seconds}s" if seconds or not text else "")


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
            raise ProviderError(f"cannot read the access key file {key_file}: {exc}") from exc
        found = data if isinstance(data, dict) else {}
        key_id, secret = found.get("accessKeyId"), found.get("accessKeySecret")
        token = found.get("securityToken")
        if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
            raise ProviderError(f"{key_file} has no accessKeyId and accessKeySecret")
        return AccessKey(key_id, secret, token if isinstance(token, str) and token else None)
    key_id, secret = os.environ.get(KEY_ID_ENV), os.environ.get(KEY_SECRET_ENV)
    if not key_id or not secret:
        raise ProviderError(
            f"no access key: set {KEY_FILE_ENV} (or --access-key-file), "
            f"or {KEY_ID_ENV} and {KEY_SECRET_ENV}",
            2,
        )
    return AccessKey(key_id, secret, os.environ.get(SECURITY_TOKEN_ENV) or None)


def read_request(text: str) -> tuple[str, str]:
    """A ``CredentialProviderRequest``'s ``apiVersion`` and ``image``."""
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise ProviderError(f"stdin is not a CredentialProviderRequest (JSON): {exc}", 2) from exc
    if not isinstance(request, dict) or request.get("kind") != "CredentialProviderRequest":
        raise ProviderError("stdin is not a CredentialProviderRequest (its kind)", 2)
    version, image = request.get("apiVersion"), request.get("image")
    if version not in ACCEPTED_API_VERSIONS:
        raise ProviderError(f"unsupported apiVersion {version!r}: use {REQUEST_API_VERSION}", 2)
    if not isinstance(image, str) or not image.strip():
        raise ProviderError("the CredentialProviderRequest has no image", 2)
    return str(version), image.strip()


def registry_host(image: str) -> str | None:
    """The registry part of an image reference (``None`` for Docker Hub's short names)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return None


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


class NotADockyard(Exception):
    """The registry did not answer as a Dockyard: its images get an empty ``auth``."""


def fetch_login(server: str, key: AccessKey) -> TemporaryLogin:
    """``POST /api/v1/auth/authorization-token`` with the access key."""
    try:
        with ApiClient.for_credential(server, key.credential(server)) as client:
            body = client.call("POST", "/auth/authorization-token")
    except ApiError as exc:
        dockyard_refusal = not exc.code.startswith("HTTP_")
        if exc.status in (401, 403) and dockyard_refusal:
            raise ProviderError(
                f"{server} refused the access key {key.access_key_id}: {exc.message} "
                "(revoked or disabled? give the provider a valid key)"
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
class Provider:
    """What the plugin was configured with (flags or environment)."""

    key_file: Path | None
    cache: LoginCache
    threshold: timedelta
    cache_key_type: str
    registries: frozenset[str]

    def login_for(self, host: str, now: datetime) -> TemporaryLogin:
        """The cached login for ``host`` unless it expires within the threshold."""
        server = normalize_server(host)
        key = load_access_key(self.key_file)
        key_id = key.access_key_id
        cached = self.cache.load(server, key_id)
        if cached is not None and cached.expires_at - now > self.threshold:
            return cached
        login = fetch_login(server, key)
        try:
            self.cache.store(server, key_id, login)
        except OSError as exc:  # the next pull signs in again: no reason to fail this one
            note(f"cannot cache the credentials in {self.cache.directory}: {exc}")
        return login

    def respond(self, api_version: str, image: str, now: datetime) -> dict[str, Any]:
        """The ``CredentialProviderResponse`` for a request of ``image``."""
        response: dict[str, Any] = {
            "apiVersion": api_version,
            "kind": "CredentialProviderResponse",
            "cacheKeyType": self.cache_key_type,
        }
        host = registry_host(image)
        if host is None or (self.registries and host not in self.registries):
            note(f"{image}: not a configured Dockyard registry, no credentials")
            return {**response, "cacheDuration": "0s", "auth": {}}
        try:
            login = self.login_for(host, now)
        except NotADockyard as exc:
            note(f"{image}: no credentials ({exc})")
            return {**response, "cacheDuration": "0s", "auth": {}}
        return {
            **response,
            "cacheDuration": go_duration(login.expires_at - now - self.threshold),
            "auth": {host: {"username": login.username, "password": login.password}},
        }


def note(message: str) -> None:
    typer.echo(f"{PROVIDER_NAME}: {message}", err=True)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dockyard" / "credential-provider"


def run(
    access_key_file: Annotated[
        Path | None,
        typer.Option(
            "--access-key-file",
            envvar=KEY_FILE_ENV,
            help="JSON with accessKeyId and accessKeySecret (as `dockyard access-key create "
            f"--json` prints). Without it: {KEY_ID_ENV} and {KEY_SECRET_ENV}.",
            show_default=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            envvar=CACHE_DIR_ENV,
            help="Where temporary credentials are kept (default: "
            "$XDG_CACHE_HOME/dockyard/credential-provider).",
            show_default=False,
        ),
    ] = None,
    expiring_threshold: Annotated[
        str,
        typer.Option(
            "--expiring-threshold",
            envvar=THRESHOLD_ENV,
            help="Renew credentials expiring within this (e.g. 15m, 1h).",
        ),
    ] = DEFAULT_THRESHOLD,
    cache_key_type: Annotated[
        str,
        typer.Option(
            "--cache-key-type", help="How the kubelet caches the answer: Image, Registry, Global."
        ),
    ] = "Registry",
    registry: Annotated[
        list[str] | None,
        typer.Option(
            "--registry",
            help="A Dockyard host (HOST[:PORT]) to sign in to; repeat it. Without any, every "
            "host the kubelet's matchImages sends here.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Kubelet credential provider: a CredentialProviderRequest on stdin, the
    CredentialProviderResponse with temporary Dockyard credentials on stdout."""
    try:
        if cache_key_type not in CACHE_KEY_TYPES:
            raise ProviderError(f"--cache-key-type must be one of {', '.join(CACHE_KEY_TYPES)}", 2)
        api_version, image = read_request(typer.get_text_stream("stdin").read())
        provider = Provider(
            key_file=access_key_file,
            cache=LoginCache(cache_dir or default_cache_dir()),
            threshold=parse_duration(expiring_threshold),
            cache_key_type=cache_key_type,
            registries=frozenset(host.lower() for host in registry or ()),
        )
        response = provider.respond(api_version, image, datetime.now(UTC))
    except (ProviderError, CliError) as exc:
        note(f"error: {exc.message}")
        raise typer.Exit(exc.exit_code) from None
    typer.echo(json.dumps(response))


def main() -> None:
    typer.run(run)


def provider_config(
    hosts: list[str], *, access_key_file: str, cache_duration: str, threshold: str
) -> dict[str, Any]:
    """A kubelet ``CredentialProviderConfig`` running this plugin for ``hosts``."""
    args = ["--expiring-threshold", threshold]
    for host in hosts:
        args += ["--registry", host]
    return {
        "apiVersion": CONFIG_API_VERSION,
        "kind": "CredentialProviderConfig",
        "providers": [
            {
                "name": PROVIDER_NAME,
                "matchImages": hosts,
                "defaultCacheDuration": cache_duration,
                "apiVersion": REQUEST_API_VERSION,
                "args": args,
                "env": [{"name": KEY_FILE_ENV, "value": access_key_file}],
            }
        ],
    }
