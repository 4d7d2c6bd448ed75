"""A logon policy's source CIDRs, exercised from real distinct addresses: two network
namespaces (``tests/netns.py``) reach a server listening on 0.0.0.0; the policy admits
namespace A's address only. A signs in (doing the first sign-in's password change there),
B — and the test itself on 127.0.0.1 — get ``LOGON_POLICY_DENIED`` with the right password,
and that refusal is not a password failure (no lockout however often it happens)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.conftest import API, ApiClient, sign_in, unique
from tests.conftest import DockyardServer, ServerFactory
from tests.netns import NetNs, network_namespaces

pytestmark = pytest.mark.e2e

INITIAL = "Initial-pw1"
CHOSEN = "chosen-pw-22"

#: Run inside a namespace: one POST with a JSON body, printing status and body as JSON.
_POST = """
import json, sys
import httpx
resp = httpx.post(sys.argv[1], json=json.loads(sys.argv[2]), timeout=30)
sys.stdout.write(json.dumps({"status": resp.status_code, "body": resp.json()}) + "\\n")
"""


@pytest.fixture
def server(fresh_registry: ServerFactory) -> DockyardServer:
    return fresh_registry(workers=2, bind="0.0.0.0")  # noqa: S104 - reached from namespaces


@pytest.fixture
def admin_api(server: DockyardServer) -> Iterator[ApiClient]:
    client = ApiClient(server, token=sign_in(server, *server.admin))
    yield client
    client.close()


@pytest.fixture
def spaces() -> Iterator[list[NetNs]]:
    with network_namespaces(2) as created:
        yield created


def signin_from(ns: NetNs, server: DockyardServer, body: dict[str, str]) -> dict[str, Any]:
    url = f"http://{ns.gateway}:{server.port}{API}/auth/signin"
    done = subprocess.run(
        ns.argv(sys.executable, "-c", _POST, url, json.dumps(body)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"client failed: {done.stderr}\n{done.stdout}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_logon_policy_cidr_admits_one_namespace_and_refuses_another(
    server: DockyardServer, admin_api: ApiClient, spaces: list[NetNs]
) -> None:
    a, b = spaces
    policy = unique("lp")
    admin_api.ok(
        admin_api.post("/logon-policies", json={"name": policy, "cidrs": [f"{a.address}/32"]}),
        201,
    )
    orgs = admin_api.ok(admin_api.get("/organizations"))["items"]
    [root] = [o for o in orgs if o.get("parentId") is None]
    name = unique("net")
    admin_api.ok(
        admin_api.post(
            "/users",
            json={
                "username": name,
                "displayName": name,
                "organizationId": root["id"],
                "email": f"{name}@example.com",
                "phone": "+86-13800000000",
                "password": INITIAL,
                "logonPolicy": policy,
            },
        ),
        201,
    )

    # From A: the first sign-in changes the initial password, then sign-ins succeed.
    first = signin_from(a, server, {"username": name, "password": INITIAL})
    assert first["status"] == 403 and first["body"]["code"] == "PASSWORD_CHANGE_REQUIRED", first
    changed = signin_from(a, server, {"username": name, "password": INITIAL, "newPassword": CHOSEN})
    assert changed["status"] == 200 and changed["body"]["token"], changed
    again = signin_from(a, server, {"username": name, "password": CHOSEN})
    assert again["status"] == 200, again

    # From B, with the right password: refused by the logon policy, naming the address.
    for _ in range(6):  # more than the lockout threshold: not password failures
        refused = signin_from(b, server, {"username": name, "password": CHOSEN})
        assert refused["status"] == 403, refused
        body = refused["body"]
        assert body["code"] == "LOGON_POLICY_DENIED", body
        assert b.address in body["message"] and body["logonPolicy"] == policy
        assert body["requestId"]
    # From B with a wrong password: a plain failure (the password is checked first).
    wrong = signin_from(b, server, {"username": name, "password": "wrong-pw-4444"})
    assert wrong["status"] == 401 and wrong["body"]["code"] == "UNAUTHORIZED", wrong

    # The test itself (127.0.0.1) is outside the policy too.
    local = httpx.post(
        f"{server.url}{API}/auth/signin", json={"username": name, "password": CHOSEN}, timeout=60
    )
    assert local.status_code == 403 and local.json()["code"] == "LOGON_POLICY_DENIED"

    # A is not locked out by B's refusals.
    still = signin_from(a, server, {"username": name, "password": CHOSEN})
    assert still["status"] == 200, still

    # The refusals are audited with B's address.
    events = admin_api.ok(
        admin_api.get("/audit-events", params={"actor": name, "outcome": "denied"})
    )["items"]
    assert any(
        e["sourceIp"] == b.address and e["detail"].get("reason") == "LOGON_POLICY_DENIED"
        for e in events
    ), events
    assert "Traceback" not in server.log_text()
