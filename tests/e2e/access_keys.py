"""Access keys and temporary credentials as the credential plug-ins' tests need them.

Shared by the kubelet credential provider's and the docker credential helper's tests: an
administrator's access key made through the API, the environment that hands it to a plug-in,
the server's count of temporary credentials issued (from its audit log), and what a runtime
given a username and password gets from the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from tests.conftest import DockyardServer
from tests.e2e.regclient import RegistryClient


def admin_api(registry: DockyardServer) -> httpx.Client:
    return httpx.Client(base_url=f"{registry.url}/api/v1", auth=registry.admin, timeout=30)


def made_access_key(registry: DockyardServer, description: str) -> Iterator[dict[str, Any]]:
    """An access key of the administrator, as ``dockyard access-key create --json`` shows
    it; deleted afterwards (a generator for fixtures)."""
    with admin_api(registry) as api:
        resp = api.post("/users/admin/access-keys", json={"description": description})
        assert resp.status_code == 201, resp.text
        key: dict[str, Any] = resp.json()
        yield key
        api.delete(f"/users/admin/access-keys/{key['accessKeyId']}")


def key_env(key: dict[str, Any]) -> dict[str, str]:
    return {
        "DOCKYARD_ACCESS_KEY_ID": key["accessKeyId"],
        "DOCKYARD_ACCESS_KEY_SECRET": key["accessKeySecret"],
    }


def issued(registry: DockyardServer) -> int:
    """How many temporary credentials the server has issued to the administrator."""
    with admin_api(registry) as api:
        resp = api.get(
            "/audit-events",
            params={"action": "cr:GetAuthorizationToken", "actor": "admin", "pageSize": 1},
        )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def pulls_with(registry: DockyardServer, username: str, password: str) -> int:
    """What a runtime given these credentials gets: the token service's refusal, or the
    status of ``GET /v2/`` with the token it handed out."""
    with RegistryClient(registry.url, username, password) as client:
        issued_token = client.fetch_token()
        if issued_token.status_code != 200:
            return issued_token.status_code
        bearer = issued_token.json()["token"]
        return client.raw("GET", "/v2/", auth="bearer", token=bearer).status_code
