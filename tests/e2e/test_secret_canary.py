"""Secrets never leak: not into the server's log, not into API responses, not into the
audit log.

A real server (debug logging, stdout and stderr captured) sees every kind of secret the
product handles — the administrator's and a user's console passwords, a registry
password, an access key secret, STS credentials, a temporary registry password, a registry
bearer token, API session tokens, a chat webhook key, an MFA (TOTP) secret and bind token —
used successfully and wrongly.
Afterwards no secret may appear in any log line, and each may appear in exactly one
response body: the one that hands it out (none, for secrets the client chose).
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
from tests.conftest import ServerFactory

pytestmark = pytest.mark.e2e

API = "/api/v1"
USERNAME = "canary.user"


def password(prefix: str) -> str:
    """10-32 characters with letters, digits and a special character; unique per run."""
    return f"{prefix}{secrets.token_hex(8)}!7"


@dataclass
class Ledger:
    """Every response body seen, and which secret each legitimately carries."""

    bodies: list[tuple[str, str]] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    #: secret name → index of the one response allowed to carry it
    legit: dict[str, int] = field(default_factory=dict)
    #: (user, password) pairs whose Basic header must not leak either
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append((f"{response.request.method} {response.request.url}", response.text))

    def secret(self, name: str, value: str, *, handed_out: bool = False) -> str:
        assert value and len(value) >= 8, f"{name}: not a usable canary: {value!r}"
        self.secrets[name] = value
        if handed_out:
            self.legit[name] = len(self.bodies) - 1
        return value

    def client(self, base_url: str, **kw: Any) -> httpx.Client:
        return httpx.Client(
            base_url=base_url, timeout=30, event_hooks={"response": [self.hook]}, **kw
        )


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: " + (
        f"{resp.status_code} {resp.text}"
    )
    return resp.json() if resp.content else None


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_no_secret_reaches_logs_responses_or_the_audit_log(
    fresh_registry: ServerFactory,
) -> None:
    server = fresh_registry(workers=1, env={"DOCKYARD_LOG_LEVEL": "debug"})
    ledger = Ledger()
    admin_pw = ledger.secret("admin password", server.admin_password)
    ledger.pairs.append(("admin", admin_pw))
    api = ledger.client(server.url + API)
    reg = ledger.client(server.url)
    as_admin = basic("admin", admin_pw)

    # -- failures first: wrong passwords and tokens are secrets too ---------------------------
    wrong = ledger.secret("wrong admin password", password("Wrong"))
    assert api.post("/auth/signin", json={"username": "admin", "password": wrong}).status_code in (
        401,
        403,
    )
    assert api.get("/instances", headers=basic("admin", wrong)).status_code == 401
    assert reg.get("/v2/", headers=basic("admin", wrong)).status_code == 401
    assert reg.get("/auth/token", headers=basic("admin", wrong)).status_code == 401

    # -- the administrator signs in (a session token, handed out once) ----------------------
    admin_session = ok(api.post("/auth/signin", json={"username": "admin", "password": admin_pw}))[
        "token"
    ]
    ledger.secret("admin session token", admin_session, handed_out=True)
    ok(api.get("/instances", headers={"Authorization": f"Bearer {admin_session}"}))

    # -- a user with an initial console password and a chat webhook key ---------------------
    orgs = ok(api.get("/organizations", headers=as_admin))["items"]
    root = next(o for o in orgs if o["parentId"] is None)
    initial = ledger.secret("initial console password", password("Init"))
    webhook = ledger.secret("chat webhook key", "whk-" + secrets.token_hex(16))
    ok(
        api.post(
            "/users",
            headers=as_admin,
            json={
                "username": USERNAME,
                "displayName": "Canary",
                "organizationId": root["id"],
                "email": "canary@example.com",
                "phone": "13800000000",
                "password": initial,
                "chatWebhookKey": webhook,
                "roles": ["Administrator"],
            },
        ),
        201,
    )
    ledger.pairs.append((USERNAME, initial))
    ok(api.get(f"/users/{USERNAME}", headers=as_admin))

    # First sign-in must change the password; a wrong one is refused.
    wrong_user = ledger.secret("wrong console password", password("Nope"))
    refused = api.post("/auth/signin", json={"username": USERNAME, "password": wrong_user})
    assert refused.status_code in (401, 403), refused.text
    refused = api.post("/auth/signin", json={"username": USERNAME, "password": initial})
    assert refused.status_code in (401, 403) and "PASSWORD_CHANGE_REQUIRED" in refused.text
    console = ledger.secret("console password", password("Cons"))
    ledger.pairs.append((USERNAME, console))
    session = ok(
        api.post(
            "/auth/signin",
            json={"username": USERNAME, "password": initial, "newPassword": console},
        )
    )["token"]
    ledger.secret("user session token", session, handed_out=True)
    as_user = {"Authorization": f"Bearer {session}"}
    ok(api.get(f"/users/{USERNAME}", headers=as_user))
    ok(api.get(f"/users/{USERNAME}", headers=basic(USERNAME, console)))
    forged = {"Authorization": "Bearer x" + session[1:]}
    assert api.get("/instances", headers=forged).status_code == 401
    assert api.get("/instances", headers=basic(USERNAME, initial)).status_code == 401

    # -- registry password: set, used, mistyped ------------------------------------------------
    registry_pw = ledger.secret("registry password", password("Reg"))
    ledger.pairs.append((USERNAME, registry_pw))
    ok(
        api.put(
            f"/users/{USERNAME}/registry-password",
            headers=as_user,
            json={"password": registry_pw, "confirm": registry_pw},
        ),
        204,
    )
    mismatch = ledger.secret("mismatched confirmation", password("Mism"))
    assert (
        api.put(
            f"/users/{USERNAME}/registry-password",
            headers=as_user,
            json={"password": password("Other"), "confirm": mismatch},
        ).status_code
        >= 400
    )
    ok(reg.get("/v2/", headers=basic(USERNAME, registry_pw)))
    wrong_registry = ledger.secret("wrong registry password", password("Regx"))
    assert reg.get("/v2/", headers=basic(USERNAME, wrong_registry)).status_code == 401

    # -- a registry bearer token ----------------------------------------------------------------
    ok(api.post("/instances/default/namespaces", headers=as_admin, json={"name": "canary"}), 201)
    scope = "repository:canary/app:pull,push"
    token = ok(
        reg.get(
            "/auth/token",
            params={"service": "dockyard", "scope": scope},
            headers=basic(USERNAME, registry_pw),
        )
    )["token"]
    ledger.secret("registry bearer token", token, handed_out=True)
    resp = reg.get("/v2/canary/app/tags/list", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code in (200, 404), resp.text
    tampered = ledger.secret("tampered bearer token", token[:-6] + "AAAAAA")
    assert reg.get("/v2/", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401

    # -- an access key, and STS credentials made with it ----------------------------------------
    key = ok(api.post(f"/users/{USERNAME}/access-keys", headers=as_user, json={}), 201)
    key_secret = ledger.secret("access key secret", key["accessKeySecret"], handed_out=True)
    key_id = key["accessKeyId"]
    ledger.pairs.append((key_id, key_secret))
    ok(api.get(f"/users/{USERNAME}/access-keys", headers=basic(key_id, key_secret)))
    wrong_key = ledger.secret("wrong access key secret", key_secret[:-4] + "zzzz")
    assert api.get("/instances", headers=basic(key_id, wrong_key)).status_code == 401

    sts = ok(
        api.post("/auth/sts", headers=basic(key_id, key_secret), json={"durationSeconds": 900})
    )
    index = len(ledger.bodies) - 1
    sts_secret = ledger.secret("STS secret", sts["accessKeySecret"])
    sts_token = ledger.secret("STS security token", sts["securityToken"])
    ledger.legit["STS secret"] = ledger.legit["STS security token"] = index
    ledger.pairs.append((sts["accessKeyId"], sts_secret))
    with_sts = {
        **basic(sts["accessKeyId"], sts_secret),
        "X-Dockyard-Security-Token": sts_token,
    }
    ok(api.get(f"/users/{USERNAME}", headers=with_sts))
    bad_sts_token = ledger.secret("wrong security token", "tok-" + secrets.token_hex(16))
    resp = api.get(
        f"/users/{USERNAME}",
        headers={**with_sts, "X-Dockyard-Security-Token": bad_sts_token},
    )
    assert resp.status_code == 401, resp.text

    # -- temporary registry credentials (GetAuthorizationToken) ----------------------------------
    temp = ok(api.post("/auth/authorization-token", headers=as_user))
    temp_pw = ledger.secret("temporary registry password", temp["authorizationToken"])
    ledger.legit["temporary registry password"] = len(ledger.bodies) - 1
    ledger.pairs.append((temp["tempUsername"], temp_pw))
    ok(reg.get("/v2/", headers=basic(temp["tempUsername"], temp_pw)))
    wrong_temp = ledger.secret("wrong temporary password", temp_pw[:-6] + "qqqqqq")
    assert reg.get("/v2/", headers=basic(temp["tempUsername"], wrong_temp)).status_code == 401

    # -- sign out: the session token stops working ------------------------------------------------
    assert api.post("/auth/signout", headers=as_user).status_code in (200, 204)
    assert api.get(f"/users/{USERNAME}", headers=as_user).status_code == 401

    # -- MFA: the bind response hands out the TOTP secret and a bind token ------------------
    ok(api.put(f"/users/{USERNAME}/mfa", headers=as_admin, json={"required": True}))
    refused = api.post("/auth/signin", json={"username": USERNAME, "password": console})
    assert refused.status_code == 403 and refused.json()["code"] == "MFA_BIND_REQUIRED"
    challenge = refused.json()
    index = len(ledger.bodies) - 1
    totp_secret = ledger.secret("TOTP secret", challenge["secret"])
    bind_token = ledger.secret("MFA bind token", challenge["bindToken"])
    ledger.legit["TOTP secret"] = ledger.legit["MFA bind token"] = index
    totp = pyotp.TOTP(totp_secret)
    ok(api.post("/auth/mfa/bind", json={"bindToken": bind_token, "code": totp.now()}))
    wrong_code = api.post(
        "/auth/signin",
        json={"username": USERNAME, "password": console, "mfaCode": "12345x"},
    )
    assert wrong_code.status_code in (400, 401, 403), wrong_code.text
    mfa_session = ok(
        api.post(
            "/auth/signin",
            json={
                "username": USERNAME,
                "password": console,
                "mfaCode": totp.at(time.time() + 30),  # the bind used this step's code
            },
        )
    )["token"]
    ledger.secret("MFA session token", mfa_session, handed_out=True)
    ok(api.get(f"/users/{USERNAME}", headers={"Authorization": f"Bearer {mfa_session}"}))

    # -- the audit log, every page ----------------------------------------------------------------
    listed: list[dict[str, Any]] = []
    page = 1
    while True:
        body = ok(
            api.get("/audit-events", headers=as_admin, params={"page": page, "pageSize": 100})
        )
        listed += body["items"]
        if page * 100 >= body["total"]:
            break
        page += 1
    assert any(e["actor"] == USERNAME for e in listed), "the user's actions were not audited"
    audit_text = str(listed)

    server.stop()
    log = server.log_text()
    # The capture works: the debug access log names the user (not a secret) in the paths of
    # the user's management calls.
    assert USERNAME in log, "the server log did not capture request-level debug lines"

    leaks: list[str] = []
    for name, value in ledger.secrets.items():
        if value in log:
            line = next(line for line in log.splitlines() if value in line)
            leaks.append(f"{name} in the server log: {line[:300]}")
        if value in audit_text:
            leaks.append(f"{name} in the audit log listing")
        for i, (what, text) in enumerate(ledger.bodies):
            if value in text and ledger.legit.get(name) != i:
                leaks.append(f"{name} in the response to {what}")
        if name in ledger.legit:
            what, text = ledger.bodies[ledger.legit[name]]
            assert value in text, f"{name}: the response handing it out was mis-marked ({what})"
    for user, secret in ledger.pairs:
        encoded = base64.b64encode(f"{user}:{secret}".encode()).decode()
        if encoded in log:
            leaks.append(f"the Basic header of {user} in the server log")
    assert not leaks, "\n".join(leaks)
