"""A repository of a remote OCI registry (another Dockyard, Distribution, Harbor, Zot…)
as a replication destination, over the distribution API.

Remotes are chosen by administrators, so the webhook address guard does not apply; TLS
is verified against the system's trust store plus the remote's own CA bundle, never
switched off, and ``http://`` is used only when the remote's URL says so. Authentication
is Basic, or the token flow the ``WWW-Authenticate`` challenge names (Basic credentials at
the realm). Blobs are streamed, never held in memory. Referrers go to the referrers API
when the registry has it, else into the OCI 1.1 fallback tag index (``sha256-<hex>``).
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx
import orjson

from dockyard import __version__
from dockyard.oci import mediatypes as mt
from dockyard.services.replication import (
    AUTHENTICATION_REFUSED,
    DESTINATION_IMMUTABLE,
    DESTINATION_LIMIT,
    PERMISSION_DENIED,
    UNREACHABLE,
    DestinationError,
    RemoteEndpoint,
)

USER_AGENT = f"Dockyard/{__version__} (replication)"
ACCEPT_MANIFESTS = ", ".join(sorted(mt.MANIFESTS))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
TLS_REFUSED = "TLS certificate not trusted"
# httpx logs every request at INFO: a replicated image would fill the worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)


class RemoteRegistries:
    """Opens repositories of remote registries (the runner's ``RemoteConnector``)."""

    async def open(self, remote: RemoteEndpoint, repository: str) -> RemoteRepository:
        verify: ssl.SSLContext | bool = True
        if remote.ca_bundle:
            verify = ssl.create_default_context()
            verify.load_verify_locations(cadata=remote.ca_bundle)
        client = httpx.AsyncClient(
            base_url=remote.url,
            verify=verify,
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        return RemoteRepository(client, remote, repository)


class RemoteRepository:
    def __init__(self, client: httpx.AsyncClient, remote: RemoteEndpoint, repository: str) -> None:
        self._client = client
        self._remote = remote
        self._name = repository
        self._authorization: str | None = None
        self._referrers_api: bool | None = None

    # ---- HTTP with authentication and named failures -----------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
    ) -> httpx.Response:
        """One request, authenticated; a 401 answers with the challenge's credentials once
        (a streamed body cannot be sent twice, so blob uploads authenticate beforehand)."""
        for attempt in (1, 2):
            sent = dict(headers or {})
            if self._authorization:
                sent["Authorization"] = self._authorization
            try:
                response = await self._client.request(method, url, headers=sent, content=content)
                await response.aread()
            except httpx.TransportError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # waiting will not fix it
                    raise DestinationError(TLS_REFUSED, f"{self._remote.url}: {exc}") from exc
                raise DestinationError(
                    UNREACHABLE, f"{self._remote.url}: {type(exc).__name__} {exc}", retryable=True
                ) from exc
            if response.status_code != 401 or attempt == 2 or not isinstance(content, bytes | None):
                break
            await self._authenticate(response.headers.get("www-authenticate", ""))
        return _checked(response)

    async def _authenticate(self, challenge: str) -> None:
        scheme, _, params = challenge.partition(" ")
        basic = httpx.BasicAuth(self._remote.username, self._remote.secret)
        if scheme.lower() == "basic" or not scheme:
            pair = f"{self._remote.username}:{self._remote.secret}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
            return
        fields = dict(_CHALLENGE_PARAM.findall(params))
        realm = fields.get("realm")
        if scheme.lower() != "bearer" or not realm:
            raise DestinationError(AUTHENTICATION_REFUSED, f"unknown challenge {challenge!r}")
        query = {"scope": f"repository:{self._name}:pull,push"}
        if "service" in fields:
            query["service"] = fields["service"]
        try:
            answer = await self._client.get(f"{realm}?{urlencode(query)}", auth=basic)
        except httpx.TransportError as exc:
            raise DestinationError(
                UNREACHABLE, f"token endpoint {realm}: {exc}", retryable=True
            ) from exc
        if answer.status_code != 200:
            raise DestinationError(
                AUTHENTICATION_REFUSED, f"token endpoint answered {answer.status_code}"
            )
        body = answer.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise DestinationError(AUTHENTICATION_REFUSED, "the token endpoint gave no token")
        self._authorization = f"Bearer {token}"

    def _path(self, kind: str, reference: str = "") -> str:
        return f"/v2/{self._name}/{kind}/{reference}"

    # ---- the Destination protocol ------------------------------------------------------

    async def has_blob(self, digest: str) -> bool:
        return (await self._send("HEAD", self._path("blobs", digest))).status_code == 200

    async def mount_blob(self, digest: str, holders: Sequence[str]) -> bool:
        """Cross-repository mount from each holder in turn: 201 is mounted; 202 (the
        registry opened an upload instead) and errors mean sending it."""
        for holder in holders:
            query = urlencode({"mount": digest, "from": holder})
            answer = await self._send("POST", f"{self._path('blobs', 'uploads/')}?{query}")
            if answer.status_code == 201:
                return True
        return False

    async def push_blob(self, digest: str, size: int, body: AsyncIterator[bytes]) -> None:
        started = await self._send("POST", self._path("blobs", "uploads/"))
        location = started.headers.get("location")
        if started.status_code != 202 or not location:
            raise DestinationError(f"upload not started: HTTP {started.status_code}")
        url = urljoin(str(self._client.base_url), location)
        url += ("&" if "?" in url else "?") + urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        done = await self._send("PUT", url, headers=headers, content=body)
        if done.status_code != 201:
            raise DestinationError(
                f"blob {digest} refused: HTTP {done.status_code} {_excerpt(done)}"
            )

    async def tag_digest(self, tag: str) -> str | None:
        found = await self._send(
            "HEAD", self._path("manifests", tag), headers={"Accept": ACCEPT_MANIFESTS}
        )
        if found.status_code == 404:
            return None
        digest: str | None = found.headers.get("docker-content-digest")
        return digest

    async def immutable(self) -> bool:
        return False  # the remote says so when the manifest is pushed

    async def put_manifest(self, reference: str, body: bytes, media_type: str) -> None:
        done = await self._send(
            "PUT",
            self._path("manifests", reference),
            headers={"Content-Type": media_type},
            content=body,
        )
        if done.status_code == 409 or "cannot be overwritten" in done.text:
            raise DestinationError(DESTINATION_IMMUTABLE, _excerpt(done))
        if done.status_code != 201:
            raise DestinationError(
                f"manifest {reference} refused: HTTP {done.status_code} {_excerpt(done)}"
            )

    async def put_referrer(
        self, subject: str, digest: str, body: bytes, media_type: str, descriptor: dict[str, object]
    ) -> None:
        await self.put_manifest(digest, body, media_type)
        if await self._has_referrers_api(subject):
            return
        fallback = subject.replace(":", "-", 1)
        current = await self._send(
            "GET", self._path("manifests", fallback), headers={"Accept": mt.OCI_INDEX}
        )
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        if current.status_code == 200:
            index = orjson.loads(current.content)
        if any(m.get("digest") == digest for m in index.get("manifests", [])):
            return
        index.setdefault("manifests", []).append(descriptor)
        await self.put_manifest(fallback, orjson.dumps(index), mt.OCI_INDEX)

    async def _has_referrers_api(self, subject: str) -> bool:
        if self._referrers_api is None:
            answer = await self._send("GET", self._path("referrers", subject))
            self._referrers_api = answer.status_code == 200 and answer.headers.get(
                "content-type", ""
            ).startswith(mt.OCI_INDEX)
        return self._referrers_api

    async def aclose(self) -> None:
        await self._client.aclose()


def _checked(response: httpx.Response) -> httpx.Response:
    """The response, unless it names a failure every request shares."""
    status = response.status_code
    if status == 401 and "insufficient_scope" in response.headers.get("www-authenticate", ""):
        raise DestinationError(PERMISSION_DENIED, _excerpt(response))  # signed in, no push
    if status == 401:
        raise DestinationError(AUTHENTICATION_REFUSED, _excerpt(response))
    if status == 403:
        raise DestinationError(PERMISSION_DENIED, _excerpt(response))
    if status in (413, 507) or (status >= 400 and "quota" in response.text.lower()):
        raise DestinationError(DESTINATION_LIMIT, _excerpt(response))
    if status == 429 or status >= 500:
        raise DestinationError(
            f"destination answered HTTP {status}", _excerpt(response), retryable=True
        )
    return response


def _excerpt(response: httpx.Response) -> str:
    return response.text[:300].strip()
