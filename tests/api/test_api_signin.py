"""Console sign-in over the real server: the forced password change of a new user, the MFA
flow end to end (enable, bind with a real TOTP code, sign in with a code, replay refused),
lockout after 5 failures and the administrator's reset, own password change, sign-out, and
the refusal bodies (the one error shape plus the fields of each code)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pyotp
import pytest
from tests.api.conftest import API, ApiClient, add_user, sign_in, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

INITIAL = "Initial-pw1"
CHOSEN = "chosen-pw-22"
LATER = "later-pw-333"
WRONG = "wrong-pw-4444"


def refusal(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape (code, message, requestId = X-Request-Id), maybe with more."""
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    body: dict[str, Any] = resp.json()
    assert {"code", "message", "requestId"} <= set(body), body
    assert body["code"] == code, body
    assert body["requestId"] and body["requestId"] == resp.headers["x-request-id"]
    return body


def signin(server: DockyardServer, username: str, password: str, **more: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{API}/auth/signin",
        json={"username": username, "password": password, **more},
        timeout=60,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def root_organization(api: ApiClient) -> str:
    page = api.ok(api.get("/organizations", params={"pageSize": 100}))
    [root] = [o for o in page["items"] if o.get("parentId") is None]
    return str(root["id"])


def create_user(api: ApiClient, username: str, password: str = INITIAL) -> None:
    """Through ``POST /users`` (initial password: must change at the first sign-in)."""
    body = {
        "username": username,
        "displayName": username,
        "organizationId": root_organization(api),
        "email": f"{username}@example.com",
        "phone": "+86-13800000000",
        "password": password,
    }
    api.ok(api.post("/users", json=body), 201)


def ready_user(server: DockyardServer, api: ApiClient, username: str) -> None:
    """A user who has done the first sign-in's change: the password is now CHOSEN."""
    create_user(api, username)
    assert signin(server, username, INITIAL, newPassword=CHOSEN).status_code == 200


def whoami(server: DockyardServer, username: str, token: str) -> int:
    """GET /users/{self} (SelfService's ram:GetUser): the status."""
    return httpx.get(
        f"{server.url}{API}/users/{username}", headers=bearer(token), timeout=60
    ).status_code


def test_first_sign_in_must_change_the_initial_password(
    registry: DockyardServer, api: ApiClient
) -> None:
    name = unique("fc")
    create_user(api, name)
    body = refusal(signin(registry, name, INITIAL), 403, "PASSWORD_CHANGE_REQUIRED")
    assert "newPassword" in body["message"]

    # The new password must be complex enough and not the old one.
    weak = refusal(signin(registry, name, INITIAL, newPassword="short1"), 400, "INVALID_INPUT")
    assert weak["message"].startswith("newPassword:")
    same = signin(registry, name, INITIAL, newPassword=INITIAL)
    assert "differ" in refusal(same, 400, "INVALID_INPUT")["message"]
    # A wrong password with a new one is just a wrong password.
    refusal(signin(registry, name, WRONG, newPassword=CHOSEN), 401, "UNAUTHORIZED")

    resp = signin(registry, name, INITIAL, newPassword=CHOSEN)
    assert resp.status_code == 200, resp.text
    session = resp.json()
    assert session["tokenType"] == "Bearer" and session["expiresIn"] == 12 * 3600
    assert datetime.fromisoformat(session["expiresAt"]) > datetime.now(UTC)
    assert whoami(registry, name, session["token"]) == 200
    user = api.ok(api.get(f"/users/{name}"))
    assert user["mustChangePassword"] is False

    refusal(signin(registry, name, INITIAL), 401, "UNAUTHORIZED")
    again = signin(registry, name, CHOSEN)
    assert again.status_code == 200, again.text
    # newPassword is only for a required change.
    refusal(signin(registry, name, CHOSEN, newPassword=LATER), 400, "INVALID_INPUT")


def test_mfa_enable_bind_then_codes(registry: DockyardServer, api: ApiClient) -> None:
    name = unique("mfa")
    ready_user(registry, api, name)
    api.ok(api.request("PUT", f"/users/{name}/mfa", json={"required": True}))

    body = refusal(signin(registry, name, CHOSEN), 403, "MFA_BIND_REQUIRED")
    assert {"bindToken", "bindTokenExpiresAt", "secret", "otpauthUri"} <= set(body)
    assert body["digits"] == 6 and body["period"] == 30
    assert body["otpauthUri"].startswith(f"otpauth://totp/Dockyard:{name}?")
    totp = pyotp.parse_uri(body["otpauthUri"])
    assert isinstance(totp, pyotp.TOTP) and totp.secret == body["secret"]
    assert api.ok(api.get(f"/users/{name}"))["mfaBound"] is False

    bind = f"{registry.url}{API}/auth/mfa/bind"
    bad = httpx.post(bind, json={"bindToken": body["bindToken"], "code": "12345"}, timeout=60)
    refusal(bad, 400, "INVALID_INPUT")
    forged = httpx.post(bind, json={"bindToken": "x" * 40, "code": "123456"}, timeout=60)
    refusal(forged, 401, "UNAUTHORIZED")
    bind_code = totp.now()
    bound = httpx.post(bind, json={"bindToken": body["bindToken"], "code": bind_code}, timeout=60)
    assert bound.status_code == 200, bound.text
    assert bound.json()["username"] == name and bound.json()["mfaBoundAt"]
    assert api.ok(api.get(f"/users/{name}"))["mfaBound"] is True

    # Signing in again asks for a code; the one used to bind is spent.
    asked = refusal(signin(registry, name, CHOSEN), 403, "MFA_CODE_REQUIRED")
    assert asked["mfaCodeRejected"] is False
    replay = refusal(signin(registry, name, CHOSEN, mfaCode=bind_code), 403, "MFA_CODE_REQUIRED")
    assert replay["mfaCodeRejected"] is True
    # The next step's code is within the accepted window (one step of drift).
    code = totp.at(time.time() + 30)
    resp = signin(registry, name, CHOSEN, mfaCode=code)
    assert resp.status_code == 200, resp.text
    assert whoami(registry, name, resp.json()["token"]) == 200
    refusal(signin(registry, name, CHOSEN, mfaCode=code), 403, "MFA_CODE_REQUIRED")
    refusal(signin(registry, name, WRONG, mfaCode=code), 401, "UNAUTHORIZED")


def test_lockout_after_five_failures_and_reset_unlocks(
    registry: DockyardServer, api: ApiClient
) -> None:
    name = unique("lock")
    ready_user(registry, api, name)
    for _ in range(4):
        refusal(signin(registry, name, WRONG), 401, "UNAUTHORIZED")
    fifth = signin(registry, name, WRONG)
    body = refusal(fifth, 403, "ACCOUNT_LOCKED")
    assert 890 <= body["retryAfter"] <= 900
    assert int(fifth.headers["retry-after"]) == body["retryAfter"]
    assert datetime.fromisoformat(body["lockedUntil"]) > datetime.now(UTC)

    # The sixth attempt, with the right password, is refused too.
    sixth = refusal(signin(registry, name, CHOSEN), 403, "ACCOUNT_LOCKED")
    assert sixth["retryAfter"] <= body["retryAfter"]

    # The administrator resets the password: unlocked, and it must be changed.
    reset = api.request("PUT", f"/users/{name}/password", json={"password": LATER})
    assert reset.status_code == 204, reset.text
    weak = api.request("PUT", f"/users/{name}/password", json={"password": "weakweakweak"})
    refusal(weak, 400, "INVALID_INPUT")
    refusal(signin(registry, name, CHOSEN), 401, "UNAUTHORIZED")
    refusal(signin(registry, name, LATER), 403, "PASSWORD_CHANGE_REQUIRED")
    ok = signin(registry, name, LATER, newPassword=CHOSEN)
    assert ok.status_code == 200, ok.text


def test_reset_ends_sessions_and_needs_its_action(registry: DockyardServer, api: ApiClient) -> None:
    name, other = unique("rs"), unique("rs")
    ready_user(registry, api, name)
    ready_user(registry, api, other)
    token = signin(registry, name, CHOSEN).json()["token"]
    # A user without ram:ResetPassword may not reset someone else's password.
    denied = httpx.put(
        f"{registry.url}{API}/users/{other}/password",
        json={"password": LATER},
        headers=bearer(token),
        timeout=60,
    )
    refusal(denied, 403, "DENIED")
    assert whoami(registry, name, token) == 200
    assert (
        api.request("PUT", f"/users/{name}/password", json={"password": LATER}).status_code == 204
    )
    assert whoami(registry, name, token) == 401  # every session ended
    refusal(
        api.request("PUT", "/users/nobody-here/password", json={"password": LATER}),
        404,
        "NOT_FOUND",
    )


def test_change_own_password_and_sign_out(registry: DockyardServer, api: ApiClient) -> None:
    name = unique("own")
    ready_user(registry, api, name)
    first = signin(registry, name, CHOSEN).json()["token"]
    second = signin(registry, name, CHOSEN).json()["token"]
    change = f"{registry.url}{API}/auth/password"

    wrong = httpx.post(
        change, json={"oldPassword": WRONG, "newPassword": LATER}, headers=bearer(first), timeout=60
    )
    assert refusal(wrong, 400, "INVALID_INPUT")["message"].startswith("oldPassword:")
    weak = httpx.post(
        change, json={"oldPassword": CHOSEN, "newPassword": "x"}, headers=bearer(first), timeout=60
    )
    refusal(weak, 400, "INVALID_INPUT")
    refusal(
        httpx.post(change, json={"oldPassword": CHOSEN, "newPassword": LATER}), 401, "UNAUTHORIZED"
    )

    changed = httpx.post(
        change,
        json={"oldPassword": CHOSEN, "newPassword": LATER},
        headers=bearer(first),
        timeout=60,
    )
    assert changed.status_code == 200, changed.text
    fresh = changed.json()["token"]
    # Every earlier session ended; the new one works.
    assert whoami(registry, name, first) == 401
    assert whoami(registry, name, second) == 401
    assert whoami(registry, name, fresh) == 200
    refusal(signin(registry, name, CHOSEN), 401, "UNAUTHORIZED")

    # Sign-out ends every session of the user.
    other = signin(registry, name, LATER).json()["token"]
    out = httpx.post(f"{registry.url}{API}/auth/signout", headers=bearer(fresh), timeout=60)
    assert out.status_code == 204, out.text
    assert whoami(registry, name, fresh) == 401
    assert whoami(registry, name, other) == 401
    refusal(httpx.post(f"{registry.url}{API}/auth/signout", timeout=60), 401, "UNAUTHORIZED")


def test_sign_in_is_audited_without_secrets(registry: DockyardServer, api: ApiClient) -> None:
    name = unique("aud")
    create_user(api, name)
    refusal(signin(registry, name, WRONG), 401, "UNAUTHORIZED")
    refusal(signin(registry, name, INITIAL), 403, "PASSWORD_CHANGE_REQUIRED")
    assert signin(registry, name, INITIAL, newPassword=CHOSEN).status_code == 200
    page = api.ok(api.get("/audit-events", params={"actor": name, "pageSize": 100}))
    events = page["items"]
    seen = {(e["action"], e["outcome"]) for e in events}
    assert {("signin", "failure"), ("signin", "denied"), ("signin", "success")} <= seen
    assert ("ram:ChangePassword", "success") in seen
    assert all(e["sourceIp"] == "127.0.0.1" for e in events)
    text = str(events)
    for secret in (WRONG, INITIAL, CHOSEN):
        assert secret not in text


def test_operations_name_their_actions(registry: DockyardServer) -> None:
    doc = httpx.get(f"{registry.url}{API}/openapi.json", timeout=60).json()
    paths = doc["paths"]
    assert paths[f"{API}/auth/signin"]["post"]["x-dockyard-action"] == "none"
    assert paths[f"{API}/auth/mfa/bind"]["post"]["x-dockyard-action"] == "none"
    assert paths[f"{API}/auth/signout"]["post"]["x-dockyard-action"] == "none"
    assert paths[f"{API}/auth/password"]["post"]["x-dockyard-action"] == "ram:ChangePassword"
    put = paths[f"{API}/users/{{username}}/password"]["put"]
    assert put["x-dockyard-action"] == "ram:ResetPassword"
    refused = paths[f"{API}/auth/signin"]["post"]["responses"]["403"]
    assert refused["content"]["application/json"]["schema"]["$ref"].endswith("/SignInRefusal")


def test_db_user_and_admin_basic_still_sign_in(registry: DockyardServer) -> None:
    """Users made straight in the database (older tests) and the administrator sign in."""
    name = unique("db")
    add_user(registry, name, CHOSEN, "AliyunContainerRegistryReadOnlyAccess")
    assert sign_in(registry, name, CHOSEN)
    assert sign_in(registry, *registry.admin)
