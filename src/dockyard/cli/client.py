"""The CLI's side of the management API: stored credentials and an HTTP client.

Resource commands only ever talk to ``/api/v1`` over HTTP, so they work the same against a
remote server as against a local one.

Credentials live in ``$XDG_CONFIG_HOME/dockyard/credentials.json`` (``~/.config/…`` when
unset): the directory is made ``0700`` and the file is written ``0600`` (atomically, never
readable by others even for a moment). Per server it holds one of: a session token from
``POST /api/v1/auth/signin`` (12 hours); with ``dockyard login --basic``, the user name and
console password for HTTP Basic (for unattended scripts); or an access key (``AK…`` ID and
secret, sent as HTTP Basic), possibly temporary STS credentials with their security token
(sent in ``X-Dockyard-Security-Token``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from dockyard import __version__

API_PREFIX = "/api/v1"
SECURITY_TOKEN_HEADER = "X-Dockyard-Security-Token"  # noqa: S105 - a header name
PAGE_SIZE = 100
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_LOOPBACK = ("localhost", "127.", "[::1]", "::1")


class CliError(Exception):
    """Shown as ``error: <message>`` on stderr; the command exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """The API refused: its ``{"code", "message", "requestId"}`` body, and the status.

    ``body`` is the whole error body: some refusals carry more (the sign-in's
    ``MFA_BIND_REQUIRED`` has the bind token and the TOTP secret)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str = "",
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.body = body or {}


def normalize_server(server: str) -> str:
    """``host:port`` → ``https://host:port`` (``http://`` for loopback); no trailing slash."""
    server = server.strip().rstrip("/")
    if not server:
        raise CliError("the server address is empty", exit_code=2)
    if "://" not in server:
        scheme = "http" if server.startswith(_LOOPBACK) else "https"
        server = f"{scheme}://{server}"
    if not server.startswith(("http://", "https://")):
        raise CliError(f"unsupported server address {server!r}: use http:// or https://", 2)
    return server.removesuffix(API_PREFIX)


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dockyard"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, mode ``0600`` in a ``0700`` directory: a
    secret is never readable by others, not even for a moment."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@dataclass(frozen=True, slots=True)
class Credential:
    server: str
    username: str
    token: str | None = None
    expires_at: str | None = None
    basic: str | None = None  # base64 of "user:password" or "AccessKeyId:secret"
    access_key_id: str | None = None  # set when ``basic`` holds an access key
    security_token: str | None = None  # STS credentials only

    def headers(self) -> dict[str, str]:
        """Every header this credential sends: Authorization, plus the STS token."""
        found = {"Authorization": self.header()}
        if self.security_token:
            found[SECURITY_TOKEN_HEADER] = self.security_token
        return found

    def header(self) -> str:
        if self.basic:
            return f"Basic {self.basic}"
        if self.expires_at:
            with contextlib.suppress(ValueError):
                if datetime.fromisoformat(self.expires_at) <= datetime.now(UTC):
                    raise CliError(
                        f"the session for {self.server} expired; run `dockyard login "
                        f"{self.server}` again"
                    )
        return f"Bearer {self.token}"

    @staticmethod
    def basic_of(username: str, password: str) -> str:
        return base64.b64encode(f"{username}:{password}".encode()).decode()


class CredentialStore:
    """The credentials file: ``{"default": server, "servers": {server: {...}}}``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or credentials_path()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"default": None, "servers": {}}
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
            raise CliError(f"{self.path} is not a Dockyard credentials file")
        return data

    def _save(self, data: dict[str, Any]) -> None:
        write_private(self.path, json.dumps(data, indent=2) + "\n")

    def default_server(self) -> str | None:
        found = self._load().get("default")
        return found if isinstance(found, str) else None

    def get(self, server: str) -> Credential | None:
        entry = self._load()["servers"].get(server)
        if not isinstance(entry, dict):
            return None
        return Credential(
            server=server,
            username=str(entry.get("username", "")),
            token=entry.get("token"),
            expires_at=entry.get("expiresAt"),
            basic=entry.get("basic"),
            access_key_id=entry.get("accessKeyId"),
            security_token=entry.get("securityToken"),
        )

    def put(self, credential: Credential) -> None:
        data = self._load()
        entry: dict[str, Any] = {"username": credential.username}
        if credential.access_key_id:
            entry["accessKeyId"] = credential.access_key_id
        if credential.security_token:
            entry["securityToken"] = credential.security_token
        if credential.basic:
            entry["basic"] = credential.basic
        else:
            entry["token"] = credential.token
            entry["expiresAt"] = credential.expires_at
        data["servers"][credential.server] = entry
        data["default"] = credential.server
        self._save(data)

    def remove(self, server: str) -> bool:
        data = self._load()
        found = data["servers"].pop(server, None) is not None
        if data.get("default") == server:
            data["default"] = next(iter(data["servers"]), None)
        if found:
            self._save(data)
        return found


def _error_from(resp: httpx.Response) -> ApiError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ApiError(
            resp.status_code,
            str(body.get("code") or f"HTTP_{resp.status_code}"),
            body["message"],
            str(body.get("requestId") or resp.headers.get("x-request-id", "")),
            body,
        )
    text = resp.text.strip()[:200] or resp.reason_phrase
    status = resp.status_code
    return ApiError(status, f"HTTP_{status}", f"HTTP {status}: {text}")


class ApiClient:
    """JSON over HTTP to one server's ``/api/v1``; every failure becomes a ``CliError``."""

    def __init__(
        self,
        server: str,
        authorization: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.server = server
        headers = {"User-Agent": f"dockyard-cli/{__version__}", "Accept": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        headers.update(extra_headers or {})
        self.http = httpx.Client(base_url=server + API_PREFIX, headers=headers, timeout=TIMEOUT)

    @classmethod
    def for_credential(cls, server: str, credential: Credential | None) -> ApiClient:
        """A client sending ``credential`` (anonymous without one)."""
        return cls(server, extra_headers=credential.headers() if credential else None)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.server}: {exc}") from exc
        if resp.status_code >= 400:
            raise _error_from(resp)
        return resp

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        return resp.json() if resp.content else None

    def etag_of(self, path: str) -> tuple[Any, str | None]:
        resp = self.request("GET", path)
        return resp.json(), resp.headers.get("etag")

    def page(self, path: str, page: int, page_size: int, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        found: dict[str, Any] = self.call(
            "GET", path, params={**query, "page": page, "pageSize": page_size}
        )
        return found

    def iter_all(
        self,
        path: str,
        *,
        on_page: Callable[[int, int], None] | None = None,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged list; ``on_page(fetched, total)`` after each page."""
        number, fetched = 1, 0
        while True:
            body = self.page(path, number, PAGE_SIZE, **params)
            items = body.get("items", [])
            yield from items
            fetched += len(items)
            total = int(body.get("total", fetched))
            if on_page is not None:
                on_page(fetched, total)
            if not items or fetched >= total:
                return
            number += 1


def sign_in(
    server: str,
    username: str,
    password: str,
    *,
    mfa_code: str | None = None,
    new_password: str | None = None,
) -> dict[str, Any]:
    """``POST /api/v1/auth/signin``: the session (token, expiresAt) for these credentials.

    A refusal is an ``ApiError`` whose ``code`` says what is missing
    (``PASSWORD_CHANGE_REQUIRED``, ``MFA_CODE_REQUIRED``, ``MFA_BIND_REQUIRED``, ...).
    """
    body: dict[str, Any] = {"username": username, "password": password}
    if mfa_code is not None:
        body["mfaCode"] = mfa_code
    if new_password is not None:
        body["newPassword"] = new_password
    with ApiClient(server) as client:
        session: dict[str, Any] = client.call("POST", "/auth/signin", json=body)
    return session


def bind_mfa(server: str, bind_token: str, code: str) -> None:
    """``POST /api/v1/auth/mfa/bind``: bind the virtual MFA device a sign-in asked for."""
    with ApiClient(server) as client:
        client.call("POST", "/auth/mfa/bind", json={"bindToken": bind_token, "code": code})
