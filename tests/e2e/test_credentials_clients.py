"""Credentials with real clients (skopeo 1.9, podman 4.3) and from real distinct addresses.

* ``skopeo login`` / ``podman login`` with a registry password set through the API, and with
  temporary credentials (``cr_temp_user``) from ``POST /api/v1/auth/authorization-token``;
  push, then pull back with digests compared.
* An old registry password is refused after an administrator's reset; a forged temporary
  token is refused.
* Network namespaces (``tests/netns.py``): repeated bad passwords from one address get 429
  ``TOOMANYREQUESTS`` with ``Retry-After`` while the administrator, elsewhere, still pushes;
  a logon policy's CIDRs refuse the token endpoint from an address outside them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from tests.api.conftest import API, ApiClient, add_user, sign_in, unique
from tests.conftest import DockyardServer, ServerFactory
from tests.e2e import clients as C
from tests.netns import NetNs, network_namespaces

from dockyard.metadata.models import LogonPolicy, User
from dockyard.metadata.session import Database

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

PASSWORD = "Console-pass-1"
LIMIT = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    srv = DockyardServer(tmp_path_factory.mktemp("dockyard-cred-clients"), workers=2)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def new_user(server: DockyardServer) -> str:
    name = unique("u")
    add_user(server, name, PASSWORD, "AliyunContainerRegistryFullAccess")
    return name


def put_registry_password(client: ApiClient, name: str, password: str) -> None:
    resp = client.request(
        "PUT",
        f"/users/{name}/registry-password",
        json={"password": password, "confirm": password},
    )
    assert resp.status_code == 204, resp.text


def test_skopeo_and_podman_with_a_registry_password_and_after_a_reset(
    server: DockyardServer, tmp_path: Path
) -> None:
    name = new_user(server)
    me = ApiClient(server, token=sign_in(server, name, PASSWORD))
    admin = ApiClient(server, token=sign_in(server, *server.admin))
    try:
        put_registry_password(me, name, "Skopeo-pw-1")
        sk = C.Skopeo(tmp_path / "sk")
        with pytest.raises(C.ClientError):
            sk.login(server.host, name, PASSWORD)  # the console password is not it
        sk.login(server.host, name, "Skopeo-pw-1")
        info = C.make_oci_layout(tmp_path / "layout", layer_size=64 * 1024)
        ref = f"docker://{server.host}/{unique('sk')}/app:v1"
        assert sk.copy(info.oci_ref, ref) == info.digest
        back = sk.copy(ref, f"oci:{tmp_path / 'back'}:v1")
        assert back == info.digest
        assert C._sha256(sk.inspect_raw(ref)) == info.digest
        # podman logs in with the same registry password and pulls what skopeo pushed.
        image = ref.removeprefix("docker://")
        with C.Podman(tmp_path / "pm") as pm:
            pm.login(server.host, name, "Skopeo-pw-1")
            pm.pull(image)
            assert pm.image_digest(image) == info.digest
            pushed = pm.push(image, image.replace(":v1", ":v2"))
        assert C._sha256(sk.inspect_raw(ref.replace(":v1", ":v2"))) == pushed

        # The administrator resets it: the old one is refused at once, the new one works.
        put_registry_password(admin, name, "Reset-pw-22")
        sk2 = C.Skopeo(tmp_path / "sk2")
        with pytest.raises(C.ClientError):
            sk2.login(server.host, name, "Skopeo-pw-1")
        with pytest.raises(C.ClientError):
            sk2.inspect_raw(ref, creds=(name, "Skopeo-pw-1"))
        sk2.login(server.host, name, "Reset-pw-22")
        assert C._sha256(sk2.inspect_raw(ref)) == info.digest
    finally:
        me.close()
        admin.close()


def test_podman_and_skopeo_with_temporary_credentials(
    server: DockyardServer, tmp_path: Path
) -> None:
    name = new_user(server)
    me = ApiClient(server, token=sign_in(server, name, PASSWORD))
    try:
        before = datetime.now(UTC)
        temp = me.ok(me.post("/auth/authorization-token"))
        expires = datetime.fromisoformat(temp["expiresAt"])
        assert timedelta(minutes=59) < expires - before <= timedelta(hours=1, seconds=5)
        user, password = temp["tempUsername"], temp["authorizationToken"]
        assert user == "cr_temp_user"
    finally:
        me.close()

    repo = f"{server.host}/{unique('pm')}/app:v1"
    info = C.make_oci_layout(tmp_path / "layout")
    with C.Podman(tmp_path / "pm") as pm:
        pm.login(server.host, user, password)
        pm.pull(info.oci_ref)
        pushed = pm.push(info.images[0].config.digest[7:], repo)
    with C.Podman(tmp_path / "pm2") as fresh:
        fresh.login(server.host, user, password)
        fresh.pull(repo)
        assert fresh.image_digest(repo) == pushed
        assert fresh.image_inspect(repo)["Id"] == info.images[0].config.digest[7:]

    sk = C.Skopeo(tmp_path / "sk")
    sk.login(server.host, user, password)
    assert C._sha256(sk.inspect_raw(f"docker://{repo}")) == pushed
    layout2 = C.make_oci_layout(tmp_path / "layout2")
    ref2 = f"docker://{server.host}/{unique('sk')}/temp:v1"
    assert sk.copy(layout2.oci_ref, ref2) == layout2.digest
    assert sk.copy(ref2, f"oci:{tmp_path / 'back'}:v1") == layout2.digest

    # A forged (tampered) token is refused by login.
    head, payload, sig = password.split(".")
    with pytest.raises(C.ClientError):
        C.Skopeo(tmp_path / "forged").login(server.host, user, f"{head}.{payload}.{sig[::-1]}")


# ---- distinct source addresses ----------------------------------------------------------------


@pytest.fixture
def spaces() -> Iterator[list[NetNs]]:
    with network_namespaces(2) as created:
        yield created


@pytest.fixture
def open_server(fresh_registry: ServerFactory) -> DockyardServer:
    return fresh_registry(
        workers=2,
        bind="0.0.0.0",  # noqa: S104 - reached from the test namespaces only
        env={"DOCKYARD_REGISTRY_AUTH_FAILURES_PER_MINUTE": str(LIMIT)},
    )


def _url(ns: NetNs, server: DockyardServer, path: str) -> str:
    return f"http://{ns.gateway}:{server.port}{path}"


def test_bad_passwords_from_one_address_are_rate_limited_not_the_admin(
    open_server: DockyardServer, spaces: list[NetNs], tmp_path: Path
) -> None:
    server = open_server
    attacker, elsewhere = spaces
    host = f"127.0.0.1:{server.port}"
    base = _url(attacker, server, "/v2/")
    for i in range(LIMIT):
        got = attacker.run_client("request", "GET", base, host, "admin", f"wrong-{i}")
        assert got["status"] == 401, got
    refused = attacker.run_client("request", "GET", base, host, "admin", "wrong-again")
    assert refused["status"] == 429, refused
    assert int(refused["headers"]["retry-after"]) > 0
    assert json.loads(refused["body"])["errors"][0]["code"] == "TOOMANYREQUESTS"
    # The right password from that address is refused as well (no guessing oracle) ...
    right = attacker.run_client("request", "GET", base, host, *server.admin)
    assert right["status"] == 429
    token = attacker.run_client(
        "request",
        "GET",
        _url(attacker, server, "/auth/token?service=dockyard"),
        host,
        *server.admin,
    )
    assert token["status"] == 429 and int(token["headers"]["retry-after"]) > 0

    # ... while the administrator elsewhere logs in and pushes (the account is not locked).
    ok = elsewhere.run_client(
        "request", "GET", _url(elsewhere, server, "/v2/"), host, *server.admin
    )
    assert ok["status"] == 200, ok
    sk = C.Skopeo(tmp_path / "sk")
    sk.login(server.host, *server.admin)
    info = C.make_oci_layout(tmp_path / "layout")
    ref = f"docker://{server.host}/{unique('rl')}/app:v1"
    assert sk.copy(info.oci_ref, ref) == info.digest
    assert C._sha256(sk.inspect_raw(ref)) == info.digest

    # The failures were audited with the attacking address, never the passwords.
    admin = ApiClient(server, token=sign_in(server, *server.admin))
    try:
        events = admin.ok(
            admin.get("/audit-events", params={"action": "authenticate", "pageSize": 100})
        )
        mine = [e for e in events["items"] if e["sourceIp"] == attacker.address]
        assert len(mine) >= LIMIT
        assert "wrong-" not in json.dumps(events)
    finally:
        admin.close()


def test_logon_policy_cidrs_refuse_the_token_endpoint_from_outside(
    open_server: DockyardServer, spaces: list[NetNs]
) -> None:
    server = open_server
    outside, inside = spaces
    name = unique("lp")
    add_user(server, name, PASSWORD, "AliyunContainerRegistryFullAccess")
    _set_logon_policy(server, name, [f"{inside.address}/32"])
    host = f"127.0.0.1:{server.port}"
    path = f"/auth/token?service=dockyard&scope=repository:{unique('ns')}/app:pull"

    refused = outside.run_client(
        "request", "GET", _url(outside, server, path), host, name, PASSWORD
    )
    assert refused["status"] == 401, refused
    error = json.loads(refused["body"])["errors"][0]
    assert error["code"] == "UNAUTHORIZED" and "logon policy" in error["message"]
    assert outside.address in error["message"]
    v2 = outside.run_client("request", "GET", _url(outside, server, "/v2/"), host, name, PASSWORD)
    assert v2["status"] == 401

    admitted = inside.run_client("request", "GET", _url(inside, server, path), host, name, PASSWORD)
    assert admitted["status"] == 200, admitted
    assert json.loads(admitted["body"])["token"]
    # Temporary credentials obey the same policy.
    temp = httpx.post(
        f"{server.url}{API}/auth/authorization-token", auth=(name, PASSWORD), timeout=30
    )
    # The API call itself comes from 127.0.0.1, outside the policy's CIDRs: console-password
    # Basic is a sign-in, so it is refused too.
    assert temp.status_code == 401, temp.text


def _set_logon_policy(server: DockyardServer, username: str, cidrs: list[str]) -> None:
    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")
        try:
            async with db.write() as session:
                user = (
                    await session.execute(select(User).where(User.username == username))
                ).scalar_one()
                policy = LogonPolicy(
                    account_id=user.account_id, name=unique("lp"), cidrs=cidrs, time_windows=[]
                )
                session.add(policy)
                await session.flush()
                await session.execute(
                    update(User).where(User.id == user.id).values(logon_policy_id=policy.id)
                )
        finally:
            await db.dispose()

    asyncio.run(run())
