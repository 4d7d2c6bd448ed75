"""A repository of a remote OCI registry (another Dockyard, Distribution, Harbor, Zot…)
as a replication destination, over the distribution API.

Remotes are chosen by administrators, so the webhook address guard does not apply; TLS
is verified against the system's trust store plus the remote's own CA bundle, never
switched off, and ``http://`` is used only when the remote's URL says so. Authentication
is Basic, or the token flow the ``WWW-Authenticate`` challenge names (Basic credentials at
the realm). Blobs are streamed, never held in memory: one PUT, or where the remote
refuses that as too large (413), chunks of 4 MiB. Referrers go to the referrers API
when the registry has it, else into the OCI 1.1 fallback tag index (``sha256-<hex>``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
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
    BlobBody,
    DestinationError,
    RemoteEndpoint,
)

USER_AGENT = f"Dockyard/{__version__} (replication)"
ACCEPT_MANIFESTS = ", ".join(sorted(mt.MANIFESTS))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
TLS_REFUSED = "TLS certificate not trusted"
#: A chunk of a blob sent in chunks (to a remote that refuses it whole), held in memory.
CHUNK_BYTES = 4 * 1024 * 1024
#: Authorizations kept across tasks (one per remote, user and repository) at most.
MAX_KEPT_AUTHORIZATIONS = 1024
# httpx logs every request at INFO: a replicated image would fill the worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)


class RemoteRegistries:
    """Opens repositories of remote registries (the runner's ``RemoteConnector``).

    The ``Authorization`` a repository earned (a Basic pair, or a bearer token) is kept
    for the next task to the same repository with the same credentials: a token costs
    the remote a password check, which would otherwise dominate replicating many small
    images. A stale one is answered 401 and earned again."""

    def __init__(self) -> None:
        self._authorizations: dict[tuple[str, ...], str] = {}
        #: Per CA bundle (None: the system's alone); loading trust stores costs CPU.
        self._trust: dict[str | None, ssl.SSLContext] = {}

    async def open(self, remote: RemoteEndpoint, repository: str) -> RemoteRepository:
        client = httpx.AsyncClient(
            base_url=remote.url,
            verify=self._context(remote.ca_bundle or None),
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        return RemoteRepository(client, remote, repository, self._authorizations)

    def _context(self, ca_bundle: str | None) -> ssl.SSLContext:
        """The system's trust store, plus the remote's CA bundle when it has one."""
        if (context := self._trust.get(ca_bundle)) is None:
            if len(self._trust) >= MAX_KEPT_AUTHORIZATIONS:
                self._trust.clear()
            context = ssl.create_default_context()
            if ca_bundle:
                context.load_verify_locations(cadata=ca_bundle)
            self._trust[ca_bundle] = context
        return context


class RemoteRepository:
    def __init__(
        self,
        client: httpx.AsyncClient,
        remote: RemoteEndpoint,
        repository: str,
        authorizations: dict[tuple[str, ...], str],
    ) -> None:
        self._client = client
        self._remote = remote
        self._name = repository
        secret = hashlib.sha256(remote.secret.encode()).hexdigest()
        self._key = (remote.url, remote.username, secret, repository)
        self._authorizations = authorizations
        self._referrers_api: bool | None = None

    @property
    def _authorization(self) -> str | None:
        return self._authorizations.get(self._key)

    @_authorization.setter
    def _authorization(self, value: str) -> None:
        if len(self._authorizations) >= MAX_KEPT_AUTHORIZATIONS:
            self._authorizations.clear()
        self._authorizations[self._key] = value

    # ---- HTTP with authentication and named failures -----------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        passing: Collection[int] = (),
    ) -> httpx.Response:
        """One request, authenticated; a 401 answers with the challenge's credentials once
        (a streamed body cannot be sent twice, so blob uploads authenticate beforehand).
        A status in ``passing`` is the caller's to read; others may name a failure."""
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
        return response if response.status_code in passing else _checked(response)

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

    async def push_blob(self, digest: str, size: int, body: BlobBody) -> None:
        """One streamed PUT; when that is too large for the remote (413, as a proxy's body
        limit answers), PATCH chunks of :data:`CHUNK_BYTES` and a closing PUT."""
        location = await self._start_upload()
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        url = self._with_digest(location, digest)
        done = await self._send("PUT", url, headers=headers, content=body(), passing=(413,))
        if done.status_code == 413:
            done = await self._push_chunks(digest, body)
        if done.status_code != 201:
            raise DestinationError(
                f"blob {digest} refused: HTTP {done.status_code} {_excerpt(done)}"
            )

    async def _start_upload(self) -> str:
        started = await self._send("POST", self._path("blobs", "uploads/"))
        location = started.headers.get("location")
        if started.status_code != 202 or not location:
            raise DestinationError(f"upload not started: HTTP {started.status_code}")
        return urljoin(str(self._client.base_url), str(location))

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})

    async def _push_chunks(self, digest: str, body: BlobBody) -> httpx.Response:
        """A new upload, its bytes in chunks (one held at a time), closed by a PUT."""
        location, offset = await self._start_upload(), 0
        async for chunk in _chunks(body(), CHUNK_BYTES):
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            }
            sent = await self._send("PATCH", location, headers=headers, content=chunk)
            if sent.status_code != 202 or "location" not in sent.headers:
                raise DestinationError(
                    f"chunk {offset} of blob {digest} refused: HTTP {sent.status_code} "
                    f"{_excerpt(sent)}"
                )
            location = urljoin(str(self._client.base_url), sent.headers["location"])
            offset += len(chunk)
        return await self._send("PUT", self._with_digest(location, digest), content=b"")

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
    # Before 403: a registry may refuse a push beyond its quota as DENIED (Dockyard does).
    if status in (413, 507) or (status >= 400 and "quota" in response.text.lower()):
        raise DestinationError(DESTINATION_LIMIT, _excerpt(response))
    if status == 403:
        raise DestinationError(PERMISSION_DENIED, _excerpt(response))
    if status == 429 or status >= 500:
        raise DestinationError(
            f"destination answered HTTP {status}", _excerpt(response), retryable=True
        )
    return response


async def _chunks(body: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """``body`` again, in pieces of ``size`` bytes (the last one shorter)."""
    pending = bytearray()
    async for piece in body:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def _excerpt(response: httpx.Response) -> str:
    return response.text[:300].strip()
