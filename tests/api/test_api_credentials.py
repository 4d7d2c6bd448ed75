"""Credentials over HTTP: registry passwords, temporary credentials, access keys, STS,
session epochs, and the per-address registry authentication rate limit.

One server for the module (not the session's shared one): these tests fail registry
authentications on purpose, and those count towards 127.0.0.1's rate limit.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from tests.api.conftest import API, ApiClient, add_user, error, sign_in, unique
from tests.conftest import DockyardServer

from dockyard.metadata.models import Policy, Role, RolePolicy, User, UserRole
from dockyard.metadata.session import Database

pytestmark = pytest.mark.e2e

PASSWORD = "Console-pass-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    srv = DockyardServer(
        tmp_path_factory.mktemp("dockyard-credentials"),
        workers=2,
        env={"DOCKYARD_REGISTRY_AUTH_FAILURES_PER_MINUTE": "1000"},
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(server: DockyardServer) -> Iterator[ApiClient]:
    client = ApiClient(server, token=sign_in(server, *server.admin))
    yield client
    client.close()


def user(server: DockyardServer, policy: str = "AliyunContainerRegistryFullAccess") -> str:
    name = unique("u")
    add_user(server, name, PASSWORD, policy)
    return name


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def v2(server: DockyardServer, user: str, password: str) -> int:
    return httpx.get(f"{server.url}/v2/", auth=(user, password), timeout=30).status_code


def token_endpoint(server: DockyardServer, user: str, password: str, scope: str) -> httpx.Response:
    return httpx.get(
        server.realm,
        params={"service": "dockyard", "scope": scope},
        auth=(user, password),
        timeout=30,
    )


def set_user(server: DockyardServer, name: str, **values: object) -> None:
    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            async with db.write() as session:
                await session.execute(update(User).where(User.username == name).values(**values))
        finally:
            await db.dispose()

    asyncio.run(run())


def attach_policy(server: DockyardServer, name: str, document: dict[str, object]) -> None:
    """Give the user one more role holding a custom policy, straight in the database."""

    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            async with db.write() as session:
                found = (
                    await session.execute(select(User).where(User.username == name))
                ).scalar_one()
                policy = Policy(account_id=found.account_id, name=unique("p"), document=document)
                role = Role(account_id=found.account_id, name=unique("r"))
                session.add_all([policy, role])
                await session.flush()
                session.add(RolePolicy(role_id=role.id, policy_id=policy.id))
                session.add(UserRole(user_id=found.id, role_id=role.id))
        finally:
            await db.dispose()

    asyncio.run(run())


# ---- registry password ----------------------------------------------------------------------


def test_registry_password_self_service_and_admin_reset(
    server: DockyardServer, admin: ApiClient
) -> None:
    name = user(server)
    me = ApiClient(server, auth=(name, PASSWORD))
    try:
        path = f"/users/{name}/registry-password"
        # Rules: confirm must match; 8-64 characters with two character classes.
        error(
            me.request("PUT", path, json={"password": "Abcdefg1", "confirm": "x"}),
            400,
            "INVALID_INPUT",
        )
        error(
            me.request("PUT", path, json={"password": "abcdefgh", "confirm": "abcdefgh"}),
            400,
            "INVALID_INPUT",
        )
        assert (
            me.request(
                "PUT", path, json={"password": "Mine-pw-1", "confirm": "Mine-pw-1"}
            ).status_code
            == 204
        )
        assert v2(server, name, "Mine-pw-1") == 200
        assert v2(server, name, PASSWORD) == 401  # the console password is not the registry's

        # Another user may not set it; the administrator may (a reset).
        other = ApiClient(server, auth=(user(server), PASSWORD))
        try:
            error(
                other.request("PUT", path, json={"password": "Evil-pw-1", "confirm": "Evil-pw-1"}),
                403,
                "DENIED",
            )
        finally:
            other.close()
        assert v2(server, name, "Mine-pw-1") == 200  # cached in some worker now
        resp = admin.request("PUT", path, json={"password": "Reset-pw-2", "confirm": "Reset-pw-2"})
        assert resp.status_code == 204, resp.text
        # The old password is refused at once, on every worker, cached or not.
        for _ in range(4):
            assert v2(server, name, "Mine-pw-1") == 401
            assert (
                token_endpoint(server, name, "Mine-pw-1", "repository:a/b:pull").status_code == 401
            )
        assert v2(server, name, "Reset-pw-2") == 200
        error(
            admin.request(
                "PUT",
                "/users/nobody-here/registry-password",
                json={"password": "Reset-pw-2", "confirm": "Reset-pw-2"},
            ),
            404,
            "NOT_FOUND",
        )
    finally:
        me.close()


# ---- temporary credentials ------------------------------------------------------------------


def test_temporary_credentials_log_in_push_and_pull(server: DockyardServer) -> None:
    name = user(server)
    me = ApiClient(server, token=sign_in(server, name, PASSWORD))
    try:
        before = datetime.now(UTC)
        temp = me.ok(me.post("/auth/authorization-token"))
        assert set(temp) == {"tempUsername", "authorizationToken", "expiresAt"}
        assert temp["tempUsername"] == "cr_temp_user"
        expires = datetime.fromisoformat(temp["expiresAt"])
        assert timedelta(minutes=59) < expires - before <= timedelta(hours=1, seconds=5)
        creds = ("cr_temp_user", temp["authorizationToken"])
        assert v2(server, *creds) == 200
        repo = f"{unique('tmp')}/app"
        got = token_endpoint(server, *creds, f"repository:{repo}:pull,push")
        assert got.status_code == 200
        http = httpx.Client(base_url=server.url, auth=creds, timeout=30)
        try:
            data = secrets.token_bytes(100)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            resp = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
            assert resp.status_code == 201, resp.text
            assert http.get(f"/v2/{repo}/blobs/{digest}").content == data
        finally:
            http.close()
        # Forged or tampered tokens are refused.
        head, payload, sig = temp["authorizationToken"].split(".")
        assert v2(server, "cr_temp_user", f"{head}.{payload}.{sig[::-1]}") == 401
        assert v2(server, "cr_temp_user", "not-a-token") == 401
        # A disabled user's temporary credentials stop working.
        set_user(server, name, disabled=True)
        assert v2(server, *creds) == 401
        set_user(server, name, disabled=False)
        assert v2(server, *creds) == 200
    finally:
        me.close()


def test_authorization_token_needs_the_action(server: DockyardServer) -> None:
    # cr:Get* (read-only access) includes cr:GetAuthorizationToken ...
    reader = unique("ro")
    add_user(server, reader, PASSWORD, "AliyunContainerRegistryReadOnlyAccess")
    assert httpx.post(
        f"{server.url}{API}/auth/authorization-token", auth=(reader, PASSWORD), timeout=30
    ).is_success
    # ... an explicit Deny takes it away.
    name = unique("deny")
    add_user(server, name, PASSWORD, "AliyunContainerRegistryFullAccess")
    deny = {
        "Version": "1",
        "Statement": [{"Effect": "Deny", "Action": "cr:GetAuthorizationToken", "Resource": "*"}],
    }
    attach_policy(server, name, deny)
    me = ApiClient(server, auth=(name, PASSWORD))
    try:
        error(me.post("/auth/authorization-token"), 403, "DENIED")
    finally:
        me.close()


# ---- access keys and STS --------------------------------------------------------------------


def test_access_keys_create_list_disable_delete(server: DockyardServer, admin: ApiClient) -> None:
    name = user(server)
    me = ApiClient(server, auth=(name, PASSWORD))
    try:
        made = me.ok(me.post(f"/users/{name}/access-keys", json={"description": "ci"}), 201)
        key_id, secret = made["accessKeyId"], made["accessKeySecret"]
        assert key_id.startswith("AK") and len(key_id) == 24 and key_id[2:].isalnum()
        assert len(secret) == 40
        listed = me.ok(me.get(f"/users/{name}/access-keys"))["items"]
        assert [k["accessKeyId"] for k in listed] == [key_id]
        assert "accessKeySecret" not in listed[0] and secret not in str(listed)

        keyed = httpx.Client(base_url=server.url + API, auth=(key_id, secret), timeout=30)
        try:
            assert keyed.get(f"/users/{name}/access-keys").status_code == 200
            assert keyed.post("/auth/authorization-token").status_code == 200
            # Wrong secret.
            bad = httpx.get(f"{server.url}{API}/users/{name}/access-keys", auth=(key_id, "x" * 40))
            error(bad, 401, "UNAUTHORIZED")

            patched = me.ok(
                me.patch(f"/users/{name}/access-keys/{key_id}", json={"status": "disabled"})
            )
            assert patched["status"] == "disabled"
            error(keyed.get(f"/users/{name}/access-keys"), 401, "UNAUTHORIZED")
            me.ok(me.patch(f"/users/{name}/access-keys/{key_id}", json={"status": "active"}))
            assert keyed.get(f"/users/{name}/access-keys").status_code == 200
            listed = me.ok(me.get(f"/users/{name}/access-keys"))["items"]
            assert listed[0]["lastUsedAt"] is not None

            # Someone else's keys: not without the permission; the administrator may.
            other = ApiClient(server, auth=(user(server), PASSWORD))
            try:
                error(other.get(f"/users/{name}/access-keys"), 403, "DENIED")
            finally:
                other.close()
            assert admin.get(f"/users/{name}/access-keys").status_code == 200

            # At most 5 keys.
            for _ in range(4):
                me.ok(me.post(f"/users/{name}/access-keys"), 201)
            error(me.post(f"/users/{name}/access-keys"), 409, "LIMIT_EXCEEDED")

            assert me.delete(f"/users/{name}/access-keys/{key_id}").status_code == 204
            error(keyed.get(f"/users/{name}/access-keys"), 401, "UNAUTHORIZED")
            error(me.delete(f"/users/{name}/access-keys/{key_id}"), 404, "NOT_FOUND")
        finally:
            keyed.close()
    finally:
        me.close()


def test_sts_credentials_from_an_access_key(server: DockyardServer) -> None:
    name = user(server)
    me = ApiClient(server, auth=(name, PASSWORD))
    try:
        made = me.ok(me.post(f"/users/{name}/access-keys"), 201)
        key = (made["accessKeyId"], made["accessKeySecret"])
        # Other schemes are refused, clearly.
        refused = error(me.post("/auth/sts", json={"durationSeconds": 900}), 403, "DENIED")
        assert "access key" in refused["message"]
        with httpx.Client(base_url=server.url + API, auth=key, timeout=30) as keyed:
            assert keyed.post("/auth/sts", json={"durationSeconds": 899}).status_code in (400, 422)
            assert keyed.post("/auth/sts", json={"durationSeconds": 43201}).status_code in (
                400,
                422,
            )
            sts = keyed.post("/auth/sts", json={"durationSeconds": 900})
            assert sts.status_code == 200, sts.text
            body = sts.json()
            assert set(body) == {"accessKeyId", "accessKeySecret", "securityToken", "expiration"}
            assert body["accessKeyId"].startswith("STS.")
            expires = datetime.fromisoformat(body["expiration"])
            assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
            default = keyed.post("/auth/sts").json()
            assert datetime.fromisoformat(default["expiration"]) - datetime.now(UTC) > timedelta(
                minutes=59
            )
        sts_auth = (body["accessKeyId"], body["accessKeySecret"])
        header = {"X-Dockyard-Security-Token": body["securityToken"]}
        with httpx.Client(base_url=server.url + API, auth=sts_auth, timeout=30) as st:
            assert st.get(f"/users/{name}/access-keys", headers=header).status_code == 200
            error(st.get(f"/users/{name}/access-keys"), 401, "UNAUTHORIZED")  # no token header
            wrong = {"X-Dockyard-Security-Token": default["securityToken"]}
            error(st.get(f"/users/{name}/access-keys", headers=wrong), 401, "UNAUTHORIZED")
            # Temporary registry credentials end with the STS credentials.
            temp = st.post("/auth/authorization-token", headers=header).json()
            assert datetime.fromisoformat(temp["expiresAt"]) == expires
            assert v2(server, "cr_temp_user", temp["authorizationToken"]) == 200
            # STS credentials cannot mint more STS credentials.
            error(st.post("/auth/sts", headers=header), 403, "DENIED")
            # Disabling the parent key ends them (and the temporary credentials made with them).
            me.ok(me.patch(f"/users/{name}/access-keys/{key[0]}", json={"status": "disabled"}))
            error(st.get(f"/users/{name}/access-keys", headers=header), 401, "UNAUTHORIZED")
            assert v2(server, "cr_temp_user", temp["authorizationToken"]) == 401
    finally:
        me.close()


# ---- sessions -----------------------------------------------------------------------------------


def test_session_tokens_end_when_the_epoch_moves(server: DockyardServer) -> None:
    name = user(server)
    token = sign_in(server, name, PASSWORD)
    me = ApiClient(server, token=token)
    try:
        assert me.get(f"/users/{name}/access-keys").status_code == 200
        set_user(server, name, session_epoch=User.session_epoch + 1)
        refused = error(me.get(f"/users/{name}/access-keys"), 401, "UNAUTHORIZED")
        assert "sign in again" in refused["message"]
        assert (
            me.get(f"/users/{name}/access-keys", headers=basic(name, PASSWORD)).status_code == 200
        )
    finally:
        me.close()


def test_failed_authentications_are_audited_without_secrets(
    server: DockyardServer, admin: ApiClient
) -> None:
    name = user(server)
    secret = "Wrong-" + secrets.token_hex(6)
    assert v2(server, name, secret) == 401
    resp = admin.get("/audit-events", params={"actor": name, "action": "authenticate"})
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert items and items[0]["outcome"] == "failure"
    assert items[0]["sourceIp"] == "127.0.0.1"
    assert secret not in resp.text


def test_refresh_tokens_die_with_the_registry_password(
    server: DockyardServer, admin: ApiClient
) -> None:
    name = user(server)
    admin.request(
        "PUT",
        f"/users/{name}/registry-password",
        json={"password": "Offline-pw-1", "confirm": "Offline-pw-1"},
    ).raise_for_status()
    form = {
        "grant_type": "password",
        "username": name,
        "password": "Offline-pw-1",
        "service": "dockyard",
        "client_id": "test",
        "access_type": "offline",
        "scope": "repository:a/b:pull",
    }
    got = httpx.post(server.realm, data=form, timeout=30)
    assert got.status_code == 200, got.text
    refresh = got.json()["refresh_token"]
    again = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "dockyard"}
    assert httpx.post(server.realm, data=again, timeout=30).status_code == 200
    admin.request(
        "PUT",
        f"/users/{name}/registry-password",
        json={"password": "Offline-pw-2", "confirm": "Offline-pw-2"},
    ).raise_for_status()
    refused = httpx.post(server.realm, data=again, timeout=30)
    assert refused.status_code == 401, refused.text
    assert "password changed" in refused.json()["error_description"]
