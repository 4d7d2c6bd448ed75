"""Helpers for the management API tests: an authenticated client, instances to play in,
users with chosen policies, and a minimal registry pusher that can aim at any instance
through the ``Host`` header (Basic credentials, so no token realm has to resolve)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import DockyardServer

from dockyard.metadata.models import Policy, Repository, Role, RolePolicy, User, UserRole
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.passwords import hash_password

API = "/api/v1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the one error shape, with the request id in header and body."""
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    body = resp.json()
    assert set(body) == {"code", "message", "requestId"}, body
    assert body["code"] == code, body
    assert body["requestId"] and body["requestId"] == resp.headers["x-request-id"]
    return body


class ApiClient:
    """An httpx client for ``/api/v1`` with shortcuts that assert success."""

    def __init__(self, server: DockyardServer, auth: Any = None, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server
        self.http = httpx.Client(
            base_url=server.url + API, auth=auth, headers=headers, timeout=60.0
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.patch(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)

    def ok(self, resp: httpx.Response, status: int = 200) -> Any:
        assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: " + (
            f"{resp.status_code} {resp.text}"
        )
        return resp.json() if resp.content else None

    def create_instance(self, edition: str = "Standard", **body: Any) -> dict[str, Any]:
        body = {"name": "test", "region": "local", "edition": edition, **body}
        return self.ok(self.post("/instances", json=body), 201)

    def create_namespace(self, instance: str, name: str, **body: Any) -> dict[str, Any]:
        resp = self.post(f"/instances/{instance}/namespaces", json={"name": name, **body})
        return self.ok(resp, 201)

    def create_repository(
        self, instance: str, namespace: str, name: str, **body: Any
    ) -> dict[str, Any]:
        resp = self.post(
            f"/instances/{instance}/namespaces/{namespace}/repositories",
            json={"name": name, **body},
        )
        return self.ok(resp, 201)

    def repo_path(self, instance: str, full_name: str) -> str:
        namespace, repository = full_name.split("/")
        return f"/instances/{instance}/namespaces/{namespace}/repositories/{repository}"


def sign_in(server: DockyardServer, username: str, password: str) -> str:
    resp = httpx.post(
        f"{server.url}{API}/auth/signin", json={"username": username, "password": password}
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


@pytest.fixture(scope="session")
def api(registry: DockyardServer) -> Iterator[ApiClient]:
    """The shared server's API, signed in as the administrator (Bearer session token)."""
    client = ApiClient(registry, token=sign_in(registry, *registry.admin))
    yield client
    client.close()


@pytest.fixture
def standard(api: ApiClient) -> str:
    """A new Standard instance of the shared server."""
    return str(api.create_instance("Standard")["id"])


@pytest.fixture
def advanced(api: ApiClient) -> str:
    return str(api.create_instance("Advanced")["id"])


def unique(prefix: str = "n") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


# ---- users with chosen policies (the identity API comes later) ----------------------------


def add_user(server: DockyardServer, username: str, password: str, policy: str) -> None:
    """Create a user holding one built-in policy, straight in the server's database."""

    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            async with db.write() as session:
                account = await tq.find_account(session)
                assert account is not None
                hashed = hash_password(password)
                user = User(
                    account_id=account.id,
                    username=username,
                    display_name=username,
                    password_hash=hashed,
                    registry_password_hash=hashed,
                )
                role = Role(account_id=account.id, name=f"role-{username}")
                session.add_all([user, role])
                await session.flush()
                found = (
                    await session.execute(select(Policy).where(Policy.name == policy))
                ).scalar_one()
                session.add(RolePolicy(role_id=role.id, policy_id=found.id))
                session.add(UserRole(user_id=user.id, role_id=role.id))
        finally:
            await db.dispose()

    asyncio.run(run())


# ---- pushing to any instance ----------------------------------------------------------------


@dataclass
class Pushed:
    digest: str
    manifest: bytes
    config: bytes
    layers: list[bytes]


class Pusher:
    """Pushes small images with Basic credentials, to the instance ``host`` names."""

    def __init__(self, server: DockyardServer, host: str | None = None):
        headers = {"Host": f"{host}:{server.port}"} if host else {}
        self.http = httpx.Client(
            base_url=server.url, auth=server.admin, headers=headers, timeout=60.0
        )

    def close(self) -> None:
        self.http.close()

    def blob(self, name: str, data: bytes) -> httpx.Response:
        return self.http.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": sha256(data)},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def manifest(self, name: str, ref: str, body: bytes, media_type: str) -> httpx.Response:
        return self.http.put(
            f"/v2/{name}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
        )

    def image(
        self,
        name: str,
        tag: str,
        *,
        layers: int = 2,
        history: list[dict[str, Any]] | None = None,
        platform: tuple[str, str] = ("linux", "amd64"),
        expect: int = 201,
    ) -> Pushed:
        blobs = [os.urandom(64 + i) for i in range(layers)]
        config = canonical(
            {
                "os": platform[0],
                "architecture": platform[1],
                "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in blobs]},
                "history": history
                if history is not None
                else [{"created_by": f"RUN step {i}"} for i in range(layers)],
            }
        )
        for data in [*blobs, config]:
            resp = self.blob(name, data)
            if resp.status_code != 201:
                assert resp.status_code == expect, resp.text
                return Pushed("", b"", config, blobs)
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": sha256(b), "size": len(b)} for b in blobs
                ],
            }
        )
        resp = self.manifest(name, tag, manifest, OCI_MANIFEST)
        assert resp.status_code == expect, resp.text
        return Pushed(sha256(manifest), manifest, config, blobs)


@pytest.fixture
def pusher(registry: DockyardServer) -> Iterator[Pusher]:
    p = Pusher(registry)
    yield p
    p.close()


def seed_repositories(server: DockyardServer, instance: str, namespace: str, count: int) -> None:
    """Insert ``count`` repositories straight into the database (setup for limit tests,
    which would otherwise spend minutes creating thousands through the API)."""

    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            async with db.write() as session:
                ns = await tq.find_namespace(session, instance, namespace)
                assert ns is not None
                session.add_all(
                    Repository(
                        public_id=f"crr-{secrets.token_hex(8)}",
                        instance_id=instance,
                        namespace_id=ns.id,
                        name=f"seed{i:05d}",
                        full_name=f"{namespace}/seed{i:05d}",
                    )
                    for i in range(count)
                )
        finally:
            await db.dispose()

    asyncio.run(run())
