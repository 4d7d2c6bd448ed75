"""``docker-credential-dockyard``: a docker credential helper handing out temporary credentials.

Docker runs ``docker-credential-<name> <verb>`` for the registries its ``config.json`` maps to
``<name>`` in ``credHelpers`` (or for all of them with ``credsStore``), writes the verb's input
on stdin and reads the answer from stdout; a failure is a message on stdout and exit code 1.
This helper keeps no password: ``get`` trades the access key (``DOCKYARD_ACCESS_KEY_FILE``, or
``DOCKYARD_ACCESS_KEY_ID`` / ``DOCKYARD_ACCESS_KEY_SECRET``) for temporary credentials (one
hour, cached ``0600`` and renewed within the threshold, as the kubelet provider does).

* ``get``: a server URL on stdin → ``{"ServerURL", "Username", "Secret"}``. A registry that is
  not configured, not reachable or not a Dockyard → ``credentials not found in native
  keychain`` (docker then goes on without credentials). The access key is only ever sent to
  configured registries.
* ``store``: refused. ``docker login`` to a registry mapped to this helper would store a
  long-lived password, which is what the helper exists to avoid; the message says so.
* ``erase``: forgets the cached temporary credentials of a configured registry (``docker
  logout``); the next ``get`` signs in anew.
* ``list``: the configured registries, each with the access key ID that signs in to it.

The configured registries: ``DOCKYARD_REGISTRIES`` (hosts separated by commas or spaces)
when set, else the ``credHelpers`` entries naming ``dockyard`` in docker's config
(``$DOCKER_CONFIG/config.json``, default ``~/.docker/config.json``).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from dockyard.cli.client import CliError
from dockyard.integrations.temporary_logins import CredentialError, NotADockyard, TemporaryLogins

HELPER_NAME = "docker-credential-dockyard"
#: The name in docker's ``credHelpers`` / ``credsStore`` that runs this helper.
CONFIG_NAME = HELPER_NAME.removeprefix("docker-credential-")
REGISTRIES_ENV = "DOCKYARD_REGISTRIES"
#: Its cache directory under ``$XDG_CACHE_HOME/dockyard``.
CACHE_NAME = "docker-helper"
#: The protocol's answers that docker recognises by their text.
CREDENTIALS_NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
VERBS = ("get", "store", "erase", "list")


class HelperError(Exception):
    """Written on stdout (where docker reads it); the helper exits 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def host_of(server_url: str) -> str:
    """``https://host:port/v1/`` or ``host:port`` → ``host:port`` (lower case)."""
    text = server_url.strip()
    _, scheme, rest = text.partition("://")
    return (rest if scheme else text).split("/", 1)[0].lower()


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def configured_registries() -> frozenset[str]:
    """``DOCKYARD_REGISTRIES`` when set, else docker's ``credHelpers`` naming this helper."""
    listed = os.environ.get(REGISTRIES_ENV, "").replace(",", " ").split()
    if listed:
        return frozenset(host_of(host) for host in listed)
    try:
        config = json.loads(docker_config_path().read_text())
    except (OSError, ValueError):
        return frozenset()
    helpers = config.get("credHelpers") if isinstance(config, dict) else None
    if not isinstance(helpers, dict):
        return frozenset()
    return frozenset(host_of(host) for host, name in helpers.items() if name == CONFIG_NAME)


def configured_host(server_url: str) -> str:
    """The registry of ``server_url`` if this helper answers for it."""
    host = host_of(server_url)
    if not host:
        raise HelperError(MISSING_SERVER_URL)
    if host not in configured_registries():
        raise HelperError(CREDENTIALS_NOT_FOUND)
    return host


def warn(message: str) -> None:
    print(f"{HELPER_NAME}: {message}", file=sys.stderr)


def get(server_url: str, logins: TemporaryLogins, now: datetime) -> dict[str, str]:
    host = configured_host(server_url)
    try:
        login = logins.login_for(host, now, warn)
    except NotADockyard as exc:
        warn(f"{host}: no credentials ({exc})")
        raise HelperError(CREDENTIALS_NOT_FOUND) from exc
    return {"ServerURL": server_url.strip(), "Username": login.username, "Secret": login.password}


def refuse_store(payload: str) -> NoReturn:
    try:
        found = json.loads(payload)
    except ValueError:
        found = None
    server = found.get("ServerURL") if isinstance(found, dict) else None
    host = host_of(server) if isinstance(server, str) and server.strip() else "this registry"
    raise HelperError(
        f"{HELPER_NAME} keeps no passwords: it signs in to {host} with temporary credentials "
        "from the access key it is configured with (DOCKYARD_ACCESS_KEY_FILE, or "
        "DOCKYARD_ACCESS_KEY_ID and DOCKYARD_ACCESS_KEY_SECRET), so `docker login` is not "
        f"needed. To log in with a password instead, remove {host} from credHelpers."
    )


def answer(verb: str, stdin: str, now: datetime) -> dict[str, Any] | None:
    """What a successful ``verb`` prints (``None``: nothing)."""
    if verb == "store":
        refuse_store(stdin)
    logins = TemporaryLogins.from_environment(CACHE_NAME)
    if verb == "get":
        return get(stdin, logins, now)
    if verb == "erase":
        logins.forget(configured_host(stdin))
        return None
    key_id = logins.access_key().access_key_id
    return {host: key_id for host in sorted(configured_registries())}


def main() -> None:
    args = sys.argv[1:]
    if len(args) != 1 or args[0] not in VERBS:
        print(f"Usage: {HELPER_NAME} <{'|'.join(VERBS)}>")
        raise SystemExit(1)
    try:
        found = answer(args[0], sys.stdin.read(), datetime.now(UTC))
    except (HelperError, CredentialError, CliError) as exc:
        print(exc.message)
        raise SystemExit(1) from None
    if found is not None:
        print(json.dumps(found))
