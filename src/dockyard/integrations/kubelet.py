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

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError
from dockyard.integrations.temporary_logins import (
    CACHE_DIR_ENV,
    DEFAULT_THRESHOLD,
    KEY_FILE_ENV,
    KEY_ID_ENV,
    KEY_SECRET_ENV,
    THRESHOLD_ENV,
    CredentialError,
    LoginCache,
    NotADockyard,
    TemporaryLogins,
    default_cache_dir,
    parse_duration,
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


def go_duration(delta: timedelta) -> str:
    """A ``meta/v1.Duration`` as the kubelet parses it: ``44m58s``, ``0s``."""
    total = max(0, int(delta.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{seconds}s" if seconds or not text else "")


def read_request(text: str) -> tuple[str, str]:
    """A ``CredentialProviderRequest``'s ``apiVersion`` and ``image``."""
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise CredentialError(f"stdin is not a CredentialProviderRequest (JSON): {exc}", 2) from exc
    if not isinstance(request, dict) or request.get("kind") != "CredentialProviderRequest":
        raise CredentialError("stdin is not a CredentialProviderRequest (its kind)", 2)
    version, image = request.get("apiVersion"), request.get("image")
    if version not in ACCEPTED_API_VERSIONS:
        raise CredentialError(f"unsupported apiVersion {version!r}: use {REQUEST_API_VERSION}", 2)
    if not isinstance(image, str) or not image.strip():
        raise CredentialError("the CredentialProviderRequest has no image", 2)
    return str(version), image.strip()


def registry_host(image: str) -> str | None:
    """The registry part of an image reference (``None`` for Docker Hub's short names)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return None


@dataclass(frozen=True, slots=True)
class Provider:
    """What the plugin was configured with (flags or environment)."""

    logins: TemporaryLogins
    cache_key_type: str
    registries: frozenset[str]

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
        started = time.monotonic()
        try:
            login = self.logins.login_for(host, now, note)
        except NotADockyard as exc:
            note(f"{image}: no credentials ({exc})")
            return {**response, "cacheDuration": "0s", "auth": {}}
        # The kubelet counts the duration from this answer, not from the request: a slow
        # sign-in must not stretch the cache past the renewal threshold.
        now += timedelta(seconds=time.monotonic() - started)
        return {
            **response,
            "cacheDuration": go_duration(login.expires_at - now - self.logins.threshold),
            "auth": {host: {"username": login.username, "password": login.password}},
        }


def note(message: str) -> None:
    typer.echo(f"{PROVIDER_NAME}: {message}", err=True)


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
            choices = ", ".join(CACHE_KEY_TYPES)
            raise CredentialError(f"--cache-key-type must be one of {choices}", 2)
        api_version, image = read_request(typer.get_text_stream("stdin").read())
        provider = Provider(
            logins=TemporaryLogins(
                key_file=access_key_file,
                cache=LoginCache(cache_dir or default_cache_dir("credential-provider")),
                threshold=parse_duration(expiring_threshold),
            ),
            cache_key_type=cache_key_type,
            registries=frozenset(host.lower() for host in registry or ()),
        )
        response = provider.respond(api_version, image, datetime.now(UTC))
    except (CredentialError, CliError) as exc:
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
