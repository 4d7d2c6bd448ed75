"""A small httpx registry client for protocol tests.

It speaks Docker token auth the way real clients do: send the request, read the
``WWW-Authenticate: Bearer realm=..,service=..,scope=..`` challenge on a 401,
fetch a token from the realm with HTTP Basic credentials, cache it per scope and
retry once.  Tests that need to look at the raw exchange use :meth:`raw` with
``auth="none" | "basic" | "bearer"`` (or the ``anon``/``basic``/``bearer``
shorthands), which never retries and never follows redirects.

Nothing here imports ``dockyard``: it only speaks HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y",scope="a b"`` -> ``("bearer", {...})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest)
    }
    return scheme.lower(), params


def parse_link(header: str | None) -> str | None:
    """The URL of the ``rel="next"`` entry of an RFC 5988 ``Link`` header, or None."""
    if not header:
        return None
    for part in header.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;\s*rel="?next"?', part)
        if m:
            return m.group(1)
    return None


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return dict(json.loads(base64.urlsafe_b64decode(payload)))


def error_codes(resp: httpx.Response) -> list[str]:
    """The OCI error codes of an error response body (empty if not an error body)."""
    try:
        body = resp.json()
    except ValueError:
        return []
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    return [e.get("code") for e in body["errors"] if isinstance(e, dict)]


def describe(resp: httpx.Response) -> str:
    """A one-stop description of an exchange, for assertion messages."""
    req = resp.request
    headers = "\n".join(f"  {k}: {v}" for k, v in resp.headers.items())
    body = resp.content[:2000]
    return f"{req.method} {req.url} -> {resp.status_code}\n{headers}\n  body: {body!r}"


def expect(resp: httpx.Response, status: int, code: str | None = None) -> httpx.Response:
    """Assert the status (and, for errors, that the first OCI error code is ``code``)."""
    assert resp.status_code == status, f"expected {status}\n{describe(resp)}"
    if code is not None:
        codes = error_codes(resp)
        assert codes, f"expected an OCI error body with {code}\n{describe(resp)}"
        assert code in codes, f"expected error code {code}, got {codes}\n{describe(resp)}"
    return resp


@dataclass
class Image:
    name: str
    config: bytes
    config_digest: str
    layers: list[bytes]
    layer_digests: list[str]
    manifest: bytes
    manifest_digest: str
    media_type: str = OCI_MANIFEST
    tag: str | None = None

    @property
    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.manifest_digest,
            "size": len(self.manifest),
        }


@dataclass
class RegistryClient:
    """An httpx client for one registry, with optional credentials and token caching."""

    base_url: str
    username: str | None = None
    password: str | None = None
    keepalive: bool = True
    timeout: float = 30.0
    tokens: dict[str, str] = field(default_factory=dict)
    _scope_for: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        limits = httpx.Limits() if self.keepalive else httpx.Limits(max_keepalive_connections=0)
        self.http = httpx.Client(
            base_url=self.base_url, timeout=self.timeout, follow_redirects=False, limits=limits
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clone(self, **changes: Any) -> RegistryClient:
        """A new client for the same registry (own connection pool, empty token cache)."""
        kwargs = {
            "base_url": self.base_url,
            "username": self.username,
            "password": self.password,
            "keepalive": self.keepalive,
            "timeout": self.timeout,
        }
        kwargs.update(changes)
        return RegistryClient(**kwargs)

    @property
    def basic_auth(self) -> tuple[str, str]:
        assert self.username is not None and self.password is not None
        return (self.username, self.password)

    def url(self, path: str) -> str:
        if path.startswith("http"):
            return path
        return urljoin(self.base_url + "/", path.lstrip("/"))

    # -- raw requests --------------------------------------------------------------------------
    def raw(
        self,
        method: str,
        url: str,
        *,
        auth: str = "none",
        token: str | None = None,
        basic: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One request exactly as given: ``auth`` is ``none``, ``basic`` or ``bearer``."""
        hdrs = dict(headers or {})
        request_auth: Any = None
        if auth == "basic":
            request_auth = httpx.BasicAuth(*(basic or self.basic_auth))
        elif auth == "bearer":
            assert token is not None, "auth='bearer' needs token="
            hdrs["Authorization"] = f"Bearer {token}"
        elif auth != "none":
            raise ValueError(f"unknown auth mode {auth!r}")
        return self.http.request(
            method,
            url,
            headers=hdrs,
            content=content,
            params=params,
            data=data,
            auth=request_auth,
        )

    def anon(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.raw(method, url, auth="none", **kw)

    def basic(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.raw(method, url, auth="basic", **kw)

    def bearer(self, method: str, url: str, token: str, **kw: Any) -> httpx.Response:
        return self.raw(method, url, auth="bearer", token=token, **kw)

    # -- token auth ------------------------------------------------------------------------------
    def fetch_token(
        self,
        scopes: Iterable[str] = (),
        *,
        realm: str | None = None,
        service: str = "dockyard",
        credentials: tuple[str, str] | bool | None = True,
    ) -> httpx.Response:
        """``GET <realm>?service=..&scope=..`` (Basic auth unless ``credentials=False``)."""
        params: list[tuple[str, str]] = [("service", service)]
        params += [("scope", s) for s in scopes]
        auth: Any = None
        if credentials is True:
            if self.username is not None:
                auth = httpx.BasicAuth(*self.basic_auth)
        elif credentials:
            auth = httpx.BasicAuth(*credentials)  # type: ignore[misc]
        return self.http.get(realm or self.url("/auth/token"), params=params, auth=auth)

    def token_for(self, scope: str, realm: str | None = None, service: str = "dockyard") -> str:
        with self._lock:
            cached = self.tokens.get(scope)
        if cached:
            return cached
        resp = self.fetch_token(scope.split(" ") if scope else [], realm=realm, service=service)
        assert resp.status_code == 200, f"token fetch failed\n{describe(resp)}"
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        assert token, f"token response without a token: {body!r}"
        with self._lock:
            self.tokens[scope] = token
        return str(token)

    @staticmethod
    def _cache_key(method: str, url: str) -> tuple[str, str]:
        path = urlsplit(url).path
        m = re.match(r"^/v2/(.+?)/(?:blobs|manifests|tags|referrers)/", path)
        target = m.group(1) if m else path
        method = method.upper()
        if "/blobs/uploads" in path:
            kind = "w"  # every upload endpoint, GET included, needs push
        else:
            kind = "d" if method == "DELETE" else "w" if method in WRITE_METHODS else "r"
        return (kind, target)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Any = None,
    ) -> httpx.Response:
        """A request with the token dance: challenge -> token (cached per scope) -> retry."""
        key = self._cache_key(method, url)
        hdrs = dict(headers or {})
        with self._lock:
            scope = self._scope_for.get(key)
            token = self.tokens.get(scope) if scope is not None else None
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        resp = self.http.request(method, url, headers=hdrs, content=content, params=params)
        if resp.status_code != 401 or self.username is None:
            return resp
        challenge = resp.headers.get("www-authenticate", "")
        scheme, ch = parse_challenge(challenge)
        if scheme == "basic":
            return self.http.request(
                method,
                url,
                headers=headers,
                content=content,
                params=params,
                auth=httpx.BasicAuth(*self.basic_auth),
            )
        if scheme != "bearer" or "realm" not in ch:
            return resp
        scope = ch.get("scope", "")
        with self._lock:
            self.tokens.pop(scope, None)  # a cached token was refused: get a new one
        token = self.token_for(scope, realm=ch["realm"], service=ch.get("service", "dockyard"))
        with self._lock:
            self._scope_for[key] = scope
        hdrs["Authorization"] = f"Bearer {token}"
        return self.http.request(method, url, headers=hdrs, content=content, params=params)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def head(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("HEAD", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    # -- blobs -----------------------------------------------------------------------------------
    def start_upload(self, name: str, **params: str) -> httpx.Response:
        return self.post(f"/v2/{name}/blobs/uploads/", params=params or None)

    def upload_location(self, name: str) -> str:
        resp = self.start_upload(name)
        expect(resp, 202)
        loc = resp.headers.get("location")
        assert loc, describe(resp)
        return loc

    def push_blob(self, name: str, data: bytes, algorithm: str = "sha256") -> str:
        """POST a session, then PUT the whole body with ``?digest=`` (201)."""
        digest = digest_of(data, algorithm)
        loc = self.upload_location(name)
        resp = self.put(
            loc,
            params={"digest": digest},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        expect(resp, 201)
        assert resp.headers.get("docker-content-digest") == digest, describe(resp)
        return digest

    def push_blob_monolithic_post(
        self, name: str, data: bytes, algorithm: str = "sha256"
    ) -> httpx.Response:
        """Single ``POST /blobs/uploads/?digest=`` with the body."""
        digest = digest_of(data, algorithm)
        return self.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def patch_chunk(self, location: str, chunk: bytes, start: int) -> httpx.Response:
        return self.patch(
            location,
            content=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(chunk) - 1}",
            },
        )

    def push_chunked(
        self,
        name: str,
        data: bytes,
        chunk_size: int,
        algorithm: str = "sha256",
        final_chunk_in_put: bool = False,
    ) -> tuple[str, list[httpx.Response]]:
        """Upload ``data`` as PATCH chunks of ``chunk_size`` then PUT ``?digest=``.

        Returns the digest and every PATCH response (each checked for 202 and ``Range``).
        """
        digest = digest_of(data, algorithm)
        loc = self.upload_location(name)
        chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
        last = chunks.pop() if final_chunk_in_put and chunks else b""
        responses = []
        offset = 0
        for chunk in chunks:
            resp = self.patch_chunk(loc, chunk, offset)
            expect(resp, 202)
            offset += len(chunk)
            assert resp.headers.get("range") == f"0-{offset - 1}", describe(resp)
            loc = resp.headers.get("location") or loc
            responses.append(resp)
        put_headers = {"Content-Type": "application/octet-stream"}
        if last:
            put_headers["Content-Range"] = f"{offset}-{offset + len(last) - 1}"
        resp = self.put(loc, params={"digest": digest}, content=last, headers=put_headers)
        expect(resp, 201)
        assert resp.headers.get("docker-content-digest") == digest, describe(resp)
        return digest, responses

    def get_blob(self, name: str, digest: str, **kw: Any) -> httpx.Response:
        return self.get(f"/v2/{name}/blobs/{digest}", **kw)

    def head_blob(self, name: str, digest: str) -> httpx.Response:
        return self.head(f"/v2/{name}/blobs/{digest}")

    def mount(self, name: str, digest: str, from_: str | None) -> httpx.Response:
        """Cross-repository mount, with a token for push on ``name`` and pull on ``from_``.

        Like docker and containerd, ask for both scopes up front: a token scoped to the
        target alone does not entitle the caller to read the source repository.
        """
        params = {"mount": digest}
        if from_ is not None:
            params["from"] = from_
        url = f"/v2/{name}/blobs/uploads/"
        if self.username is None:
            return self.anon("POST", url, params=params)
        scope = f"repository:{name}:pull,push"
        if from_ is not None:
            scope += f" repository:{from_}:pull"
        resp = self.fetch_token(scope.split(" "))
        if resp.status_code != 200:  # e.g. ``from_`` is not a valid name: let the registry say
            return self.post(url, params=params)
        return self.bearer("POST", url, resp.json()["token"], params=params)

    # -- manifests -------------------------------------------------------------------------------
    def put_manifest(
        self, name: str, ref: str, body: bytes | Mapping[str, Any], media_type: str = OCI_MANIFEST
    ) -> httpx.Response:
        if not isinstance(body, bytes):
            body = canonical(body)
        return self.put(
            f"/v2/{name}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
        )

    def get_manifest(self, name: str, ref: str, accept: str | None = None) -> httpx.Response:
        accept = accept or ", ".join(
            [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST]
        )
        return self.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": accept})

    def head_manifest(self, name: str, ref: str, accept: str | None = None) -> httpx.Response:
        accept = accept or ", ".join(
            [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST]
        )
        return self.head(f"/v2/{name}/manifests/{ref}", headers={"Accept": accept})

    def delete_manifest(self, name: str, ref: str) -> httpx.Response:
        return self.delete(f"/v2/{name}/manifests/{ref}")

    def tags(self, name: str, **params: Any) -> httpx.Response:
        return self.get(f"/v2/{name}/tags/list", params=params or None)

    def referrers(self, name: str, digest: str, artifact_type: str | None = None) -> httpx.Response:
        params = {"artifactType": artifact_type} if artifact_type is not None else None
        return self.get(f"/v2/{name}/referrers/{digest}", params=params)

    def catalog(self, **params: Any) -> httpx.Response:
        return self.get("/v2/_catalog", params=params or None)

    def random_image(
        self,
        name: str,
        tag: str | None = None,
        *,
        layers: int = 1,
        layer_size: int = 512,
        media_type: str = OCI_MANIFEST,
        annotations: Mapping[str, str] | None = None,
        subject: Mapping[str, Any] | None = None,
        artifact_type: str | None = None,
    ) -> Image:
        """Push a random config + ``layers`` layers + a manifest (by ``tag`` or by digest)."""
        docker = media_type == DOCKER_MANIFEST_V2
        layer_blobs = [random_bytes(layer_size) for _ in range(layers)]
        layer_digests = [self.push_blob(name, b) for b in layer_blobs]
        config = canonical(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": layer_digests},
                "author": random_bytes(8).hex(),
            }
        )
        config_digest = self.push_blob(name, config)
        manifest = make_manifest(
            config,
            layer_blobs,
            media_type=media_type,
            config_media_type=DOCKER_CONFIG if docker else OCI_CONFIG,
            layer_media_type=DOCKER_LAYER if docker else OCI_LAYER_GZIP,
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
        )
        manifest_digest = digest_of(manifest)
        resp = self.put_manifest(name, tag or manifest_digest, manifest, media_type)
        expect(resp, 201)
        assert resp.headers.get("docker-content-digest") == manifest_digest, describe(resp)
        return Image(
            name,
            config,
            config_digest,
            layer_blobs,
            layer_digests,
            manifest,
            manifest_digest,
            media_type,
            tag,
        )


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    d = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    d.update(extra)
    return d


def make_manifest(
    config: bytes,
    layers: list[bytes],
    *,
    media_type: str = OCI_MANIFEST,
    config_media_type: str = OCI_CONFIG,
    layer_media_type: str = OCI_LAYER_GZIP,
    annotations: Mapping[str, str] | None = None,
    subject: Mapping[str, Any] | None = None,
    artifact_type: str | None = None,
) -> bytes:
    m: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_media_type, config),
        "layers": [descriptor(layer_media_type, b) for b in layers],
    }
    if artifact_type:
        m["artifactType"] = artifact_type
    if subject is not None:
        m["subject"] = dict(subject)
    if annotations:
        m["annotations"] = dict(annotations)
    return canonical(m)


def make_index(
    manifests: list[Mapping[str, Any]],
    *,
    media_type: str = OCI_INDEX,
    artifact_type: str | None = None,
    subject: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    idx: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [dict(m) for m in manifests],
    }
    if artifact_type:
        idx["artifactType"] = artifact_type
    if subject is not None:
        idx["subject"] = dict(subject)
    if annotations:
        idx["annotations"] = dict(annotations)
    return canonical(idx)


# -- which worker process served a connection (Linux /proc) --------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _socket_inode(server_port: int, client_port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
            if local == server_port and remote == client_port:
                return f[9]
    return None


def worker_pid(server_port: int, server_pid: int, response: httpx.Response) -> int | None:
    """The PID of the server process (``server_pid`` or a descendant) holding the connection
    that carried ``response`` — so a test can prove two requests hit different workers."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    client_port = stream.get_extra_info("client_addr")[1]
    inode = _socket_inode(server_port, client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in _descendants(server_pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None
