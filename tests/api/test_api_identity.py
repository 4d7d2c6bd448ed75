"""The identity management API over HTTP, against a real server private to this module:
organizations, users, groups, resource sets, roles, policies, logon policies, sharing
scopes, group-inherited and resource-set-scoped permissions, and the "why" simulator."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from tests.api.conftest import API, ApiClient, Pusher, error, sign_in, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

PASSWORD = "Initial1pass"
NEW_PASSWORD = "Changed1234!"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    srv = DockyardServer(tmp_path_factory.mktemp("dockyard-identity"), workers=2)
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


@pytest.fixture(scope="module")
def root(admin: ApiClient) -> str:
    orgs = admin.ok(admin.get("/organizations"))["items"]
    (found,) = [o for o in orgs if o["parentId"] is None]
    assert found["name"] == "root"
    return str(found["id"])


def user_body(username: str, org: str, **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "displayName": f"{username}@example",
        "organizationId": org,
        "email": f"{username}@example.com",
        "phone": "+86-138-0000-0000",
        "password": PASSWORD,
        **extra,
    }


def make_user(admin: ApiClient, org: str, **extra: Any) -> str:
    name = unique("u")
    admin.ok(admin.post("/users", json=user_body(name, org, **extra)), 201)
    return name


def session(server: DockyardServer, username: str) -> ApiClient:
    """Sign in for the first time (changing the initial password): a client as that user."""
    resp = httpx.post(
        f"{server.url}{API}/auth/signin",
        json={"username": username, "password": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert resp.status_code == 200, resp.text
    return ApiClient(server, token=resp.json()["token"])


def make_org(admin: ApiClient, parent: str, name: str | None = None) -> str:
    body = {"name": name or unique("org"), "parentId": parent}
    return str(admin.ok(admin.post("/organizations", json=body), 201)["id"])


def make_policy(admin: ApiClient, document: dict[str, Any], **extra: Any) -> str:
    name = unique("p")
    admin.ok(admin.post("/policies", json={"name": name, "document": document, **extra}), 201)
    return name


def allow(action: str | list[str], resource: str | list[str] = "*") -> dict[str, Any]:
    return {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }


class Roles:
    """Roles made by a test, deleted at its end (at most 20 roles exist in total)."""

    def __init__(self, admin: ApiClient) -> None:
        self.admin = admin
        self.names: list[str] = []

    def make(self, *policies: str, client: ApiClient | None = None, **extra: Any) -> str:
        name = unique("r")
        body = {"name": name, "policies": list(policies), **extra}
        (client or self.admin).ok((client or self.admin).post("/roles", json=body), 201)
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            self.admin.delete(f"/roles/{name}")


@pytest.fixture
def roles(admin: ApiClient) -> Iterator[Roles]:
    made = Roles(admin)
    yield made
    made.cleanup()


def audit_actions(admin: ApiClient, action: str) -> list[dict[str, Any]]:
    resp = admin.get("/audit-events", params={"action": action, "pageSize": 100})
    return list(admin.ok(resp)["items"])


# ---- organizations ------------------------------------------------------------------------


def test_organization_tree(admin: ApiClient, root: str) -> None:
    a = make_org(admin, root)
    a1 = make_org(admin, a)
    a11 = make_org(admin, a1)
    got = admin.get(f"/organizations/{a1}")
    assert admin.ok(got)["parentId"] == a and got.headers["etag"]
    children = admin.ok(admin.get("/organizations", params={"parentId": a}))["items"]
    assert [c["id"] for c in children] == [a1]

    # Parent must exist; names are checked; duplicates refused.
    missing = admin.post(
        "/organizations", json={"name": unique(), "parentId": a.replace(a[:8], "0" * 8)}
    )
    assert "parentId" in error(missing, 404, "NOT_FOUND")["message"]
    bad = admin.post("/organizations", json={"name": " padded", "parentId": root})
    assert "organization name" in error(bad, 400, "INVALID_INPUT")["message"]
    name = admin.ok(admin.get(f"/organizations/{a}"))["name"]
    error(
        admin.post("/organizations", json={"name": name, "parentId": root}), 409, "ALREADY_EXISTS"
    )

    # No cycles: a under its own descendant, or under itself.
    for target in (a11, a):
        resp = admin.patch(f"/organizations/{a}", json={"parentId": target})
        assert "cycle" in error(resp, 400, "INVALID_INPUT")["message"]
    error(admin.patch(f"/organizations/{root}", json={"parentId": a}), 400, "INVALID_INPUT")
    # Moving a11 under a is fine.
    assert admin.ok(admin.patch(f"/organizations/{a11}", json={"parentId": a}))["parentId"] == a

    # If-Match.
    stale = admin.patch(
        f"/organizations/{a}", json={"description": "x"}, headers={"If-Match": '"nope"'}
    )
    error(stale, 412, "PRECONDITION_FAILED")
    etag = admin.get(f"/organizations/{a}").headers["etag"]
    ok = admin.patch(
        f"/organizations/{a}", json={"description": "team A"}, headers={"If-Match": etag}
    )
    assert admin.ok(ok)["description"] == "team A"

    # Delete refused while it has children, users or groups.
    resp = admin.delete(f"/organizations/{a}")
    assert "child organizations" in error(resp, 409, "CONFLICT")["message"]
    user = make_user(admin, a1)
    admin.ok(admin.delete(f"/organizations/{a11}"), 204)
    resp = admin.delete(f"/organizations/{a1}")
    assert "1 users" in error(resp, 409, "CONFLICT")["message"]
    admin.ok(admin.delete(f"/users/{user}"), 204)
    group = unique("grp")
    admin.ok(admin.post("/groups", json={"name": group, "organizationId": a1}), 201)
    assert "groups" in error(admin.delete(f"/organizations/{a1}"), 409, "CONFLICT")["message"]
    admin.ok(admin.delete(f"/groups/{group}"), 204)
    admin.ok(admin.delete(f"/organizations/{a1}"), 204)
    admin.ok(admin.delete(f"/organizations/{a}"), 204)
    error(admin.get(f"/organizations/{a}"), 404, "NOT_FOUND")
    error(admin.delete(f"/organizations/{root}"), 409, "CONFLICT")
    assert any(
        e["action"] == "ram:DeleteOrganization"
        for e in audit_actions(admin, "ram:DeleteOrganization")
    )


# ---- users --------------------------------------------------------------------------------


def test_user_crud(admin: ApiClient, root: str, server: DockyardServer) -> None:
    name = unique("u")
    resp = admin.post(
        "/users", json=user_body(name, root, landline="0571-1234", chatWebhookKey="k")
    )
    user = admin.ok(resp, 201)
    assert resp.headers["etag"]
    assert user["username"] == name and user["organizationId"] == root
    assert user["mustChangePassword"] is True and user["chatWebhookKeySet"] is True
    assert user["landline"] == "0571-1234" and user["logonPolicy"] is None
    assert "password" not in resp.text.lower().replace("mustchangepassword", "")
    assert user["roles"] == [] and user["groups"] == []

    listed = admin.ok(admin.get("/users", params={"organizationId": root, "pageSize": 100}))
    assert name in [u["username"] for u in listed["items"]]

    updated = admin.ok(
        admin.patch(f"/users/{name}", json={"displayName": "new.name", "landline": ""})
    )
    assert updated["displayName"] == "new.name" and updated["landline"] == ""

    # The initial password must be changed at the first sign-in.
    first = httpx.post(
        f"{server.url}{API}/auth/signin", json={"username": name, "password": PASSWORD}
    )
    assert first.status_code in (401, 403) and first.json()["code"] == "PASSWORD_CHANGE_REQUIRED"

    error(admin.post("/users", json=user_body(name, root)), 409, "ALREADY_EXISTS")
    admin.ok(admin.delete(f"/users/{name}"), 204)
    error(admin.get(f"/users/{name}"), 404, "NOT_FOUND")
    events = audit_actions(admin, "ram:CreateUser")
    mine = [e for e in events if e["resource"].endswith(f":user/{name}")]
    assert mine and mine[0]["actor"] == "admin" and mine[0]["outcome"] == "success"
    assert PASSWORD not in str(mine[0])


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("username", "bad name", "username"),
        ("username", "x" * 65, "1-64"),
        ("username", "", "username"),
        ("username", "AK" + "x1" * 11, "reserved"),
        ("username", "STS.abc", "reserved"),
        ("username", "cr_temp_user", "reserved"),
        ("displayName", "has space", "displayName"),
        ("displayName", "d" * 129, "1-128"),
        ("email", "no-at.example.com", "email"),
        ("email", "a@b@c.com", "email"),
        ("email", "a@nodot", "email"),
        ("phone", "12ab5678", "phone"),
        ("phone", "123", "phone"),
        ("phone", "1" * 21, "phone"),
        ("landline", "12", "landline"),
        ("landline", "0571 123", "landline"),
        ("password", "Short1", "10-32"),
        ("password", "onlyletterslong", "at least two"),
        ("password", "a1" * 17, "10-32"),
    ],
)
def test_user_validation(admin: ApiClient, root: str, field: str, value: str, words: str) -> None:
    body = user_body(unique("u"), root)
    body[field] = value
    message = error(admin.post("/users", json=body), 400, "INVALID_INPUT")["message"]
    assert words in message


def test_user_references_must_exist(admin: ApiClient, root: str) -> None:
    body = user_body(unique("u"), root, organizationId="00000000-0000-0000-0000-000000000000")
    assert "organizationId" in error(admin.post("/users", json=body), 404, "NOT_FOUND")["message"]
    body = user_body(unique("u"), root, roles=["NoSuchRole"])
    assert "NoSuchRole" in error(admin.post("/users", json=body), 404, "NOT_FOUND")["message"]
    body = user_body(unique("u"), root, logonPolicy="nosuch")
    assert "logonPolicy" in error(admin.post("/users", json=body), 404, "NOT_FOUND")["message"]
    body = user_body(unique("u"), root, organizationId="not-a-uuid")
    assert (
        "organizationId" in error(admin.post("/users", json=body), 400, "INVALID_INPUT")["message"]
    )


def test_mfa_setting(admin: ApiClient, root: str) -> None:
    name = make_user(admin, root)
    assert admin.ok(admin.request("PUT", f"/users/{name}/mfa", json={"required": True}))[
        "mfaRequired"
    ]
    off = admin.ok(admin.request("PUT", f"/users/{name}/mfa", json={"required": False}))
    assert off["mfaRequired"] is False and off["mfaBound"] is False
    assert admin.ok(admin.delete(f"/users/{name}/mfa/device"))["mfaBound"] is False
    admin.ok(admin.delete(f"/users/{name}"), 204)


def test_self_service_and_denials(admin: ApiClient, root: str, server: DockyardServer) -> None:
    me = make_user(admin, root)
    other = make_user(admin, root)
    client = session(server, me)
    try:
        assert client.ok(client.get(f"/users/{me}"))["username"] == me
        error(client.get(f"/users/{other}"), 403, "DENIED")
        error(client.get("/users"), 403, "DENIED")
        error(client.post("/users", json=user_body(unique("u"), root)), 403, "DENIED")
        error(client.post("/roles", json={"name": unique("r")}), 403, "DENIED")
        error(
            client.post(
                "/authorization/simulate", json={"username": me, "action": "cr:X", "resource": "*"}
            ),
            403,
            "DENIED",
        )
    finally:
        client.close()


# ---- groups -------------------------------------------------------------------------------


def test_group_crud_and_rules(admin: ApiClient, root: str) -> None:
    for bad in ("ab", "has space", "x" * 256, "semi;colon"):
        resp = admin.post("/groups", json={"name": bad, "organizationId": root})
        assert "group name" in error(resp, 400, "INVALID_INPUT")["message"]
    resp = admin.post(
        "/groups",
        json={"name": unique("g"), "organizationId": "00000000-0000-0000-0000-000000000000"},
    )
    error(resp, 404, "NOT_FOUND")
    name = f"dev.{unique()}@x_y-z"
    group = admin.ok(admin.post("/groups", json={"name": name, "organizationId": root}), 201)
    assert group["members"] == [] and group["roles"] == []
    error(admin.post("/groups", json={"name": name, "organizationId": root}), 409, "ALREADY_EXISTS")
    user = make_user(admin, root)
    assert admin.ok(admin.request("PUT", f"/groups/{name}/members/{user}"))["members"] == [user]
    assert admin.ok(admin.get(f"/users/{user}"))["groups"] == [name]
    # A user may be in several groups.
    second = unique("g2")
    admin.ok(admin.post("/groups", json={"name": second, "organizationId": root}), 201)
    admin.ok(admin.request("PUT", f"/groups/{second}/members/{user}"))
    assert sorted(admin.ok(admin.get(f"/users/{user}"))["groups"]) == sorted([name, second])
    error(admin.request("PUT", f"/groups/{name}/members/nosuchuser"), 404, "NOT_FOUND")
    renamed = admin.ok(
        admin.patch(f"/groups/{name}", json={"name": name + "2", "description": "d"})
    )
    assert renamed["name"] == name + "2"
    # Deleting a user removes its memberships.
    admin.ok(admin.delete(f"/users/{user}"), 204)
    assert admin.ok(admin.get(f"/groups/{second}"))["members"] == []
    admin.ok(admin.delete(f"/groups/{name}2"), 204)
    admin.ok(admin.delete(f"/groups/{second}"), 204)
    error(admin.delete(f"/groups/{second}"), 404, "NOT_FOUND")


def test_group_roles_grant_access_to_members(
    admin: ApiClient, root: str, server: DockyardServer, roles: Roles
) -> None:
    instance = admin.create_instance("Standard")["id"]
    role = roles.make(make_policy(admin, allow("cr:ListNamespace")))
    group = unique("grp")
    admin.ok(admin.post("/groups", json={"name": group, "organizationId": root}), 201)
    admin.ok(admin.request("PUT", f"/groups/{group}/roles/{role}"))
    user = make_user(admin, root)
    client = session(server, user)
    try:
        error(client.get(f"/instances/{instance}/namespaces"), 403, "DENIED")
        admin.ok(admin.request("PUT", f"/groups/{group}/members/{user}"))
        client.ok(client.get(f"/instances/{instance}/namespaces"))
        admin.ok(admin.delete(f"/groups/{group}/members/{user}"))
        error(client.get(f"/instances/{instance}/namespaces"), 403, "DENIED")
        # Through a direct grant too; then detach.
        admin.ok(admin.request("PUT", f"/users/{user}/roles/{role}"))
        client.ok(client.get(f"/instances/{instance}/namespaces"))
        admin.ok(admin.delete(f"/users/{user}/roles/{role}"))
        error(client.get(f"/instances/{instance}/namespaces"), 403, "DENIED")
        error(admin.delete(f"/users/{user}/roles/{role}"), 404, "NOT_FOUND")
    finally:
        client.close()
        admin.delete(f"/groups/{group}")


# ---- resource sets ------------------------------------------------------------------------


def test_resource_sets_scope_group_policies(
    admin: ApiClient, root: str, server: DockyardServer, roles: Roles
) -> None:
    instance = "default"  # Advanced: ARNs carry the instance id; the registry serves it
    admin.create_namespace(instance, "team")
    admin.create_namespace(instance, "other")
    admin.create_repository(instance, "team", "app")
    admin.create_repository(instance, "other", "app")
    policy = make_policy(
        admin, allow(["cr:PullRepository", "cr:PushRepository", "cr:GetRepository"])
    )
    role = roles.make(policy)
    group = unique("grp")
    admin.ok(admin.post("/groups", json={"name": group, "organizationId": root}), 201)
    admin.ok(admin.request("PUT", f"/groups/{group}/roles/{role}"))
    user = make_user(admin, root)
    admin.ok(admin.request("PUT", f"/groups/{group}/members/{user}"))
    rs = unique("set")
    admin.ok(admin.post("/resource-sets", json={"name": rs, "description": "team"}), 201)

    # Before the link, the group's role applies everywhere.
    client = session(server, user)
    try:
        client.ok(client.get(admin.repo_path(instance, "other/app")))
        view = admin.ok(admin.request("PUT", f"/resource-sets/{rs}/namespaces/{instance}/team"))
        assert view["namespaces"] == [{"instanceId": instance, "namespace": "team"}]
        view = admin.ok(admin.request("PUT", f"/resource-sets/{rs}/groups/{group}"))
        assert view["groups"] == [group]
        assert admin.ok(admin.get(f"/groups/{group}"))["resourceSets"] == [rs]

        client.ok(client.get(admin.repo_path(instance, "team/app")))
        error(client.get(admin.repo_path(instance, "other/app")), 403, "DENIED")

        # The registry agrees: pull/push on team/*, not on other/*.
        reg_pw = "Registry-pass1"
        client.ok(
            client.request(
                "PUT",
                f"/users/{user}/registry-password",
                json={"password": reg_pw, "confirm": reg_pw},
            ),
            204,
        )
        pusher = Pusher(server)
        pusher.http.auth = (user, reg_pw)
        try:
            pushed = pusher.image("team/app", "v1")
            assert pusher.http.get(f"/v2/team/app/manifests/{pushed.digest}").status_code == 200
            assert pusher.blob("other/app", b"not here").status_code in (401, 403)
            assert pusher.http.get("/v2/other/app/tags/list").status_code in (401, 403, 404)
        finally:
            pusher.close()

        # A repository of another namespace can be added on its own.
        view = admin.ok(
            admin.request("PUT", f"/resource-sets/{rs}/repositories/{instance}/other/app")
        )
        assert view["repositories"][0]["fullName"] == "other/app"
        client.ok(client.get(admin.repo_path(instance, "other/app")))

        # One set per namespace.
        rs2 = unique("set")
        admin.ok(admin.post("/resource-sets", json={"name": rs2}), 201)
        clash = admin.request("PUT", f"/resource-sets/{rs2}/namespaces/{instance}/team")
        assert rs in error(clash, 409, "CONFLICT")["message"]
        error(
            admin.request("PUT", f"/resource-sets/{rs2}/namespaces/{instance}/nosuch"),
            404,
            "NOT_FOUND",
        )
        error(admin.delete(f"/resource-sets/{rs2}/namespaces/{instance}/team"), 404, "NOT_FOUND")
        admin.ok(admin.delete(f"/resource-sets/{rs2}"), 204)

        # Unlinking the group gives the role back its reach; deleting the set frees members.
        admin.ok(admin.delete(f"/resource-sets/{rs}/groups/{group}"))
        client.ok(client.get(admin.repo_path(instance, "other/app")))
        admin.ok(admin.request("PUT", f"/resource-sets/{rs}/groups/{group}"))
        admin.ok(admin.delete(f"/resource-sets/{rs}/repositories/{instance}/other/app"))
        error(client.get(admin.repo_path(instance, "other/app")), 403, "DENIED")
        admin.ok(admin.delete(f"/resource-sets/{rs}"), 204)
        assert admin.ok(admin.get(f"/groups/{group}"))["resourceSets"] == []
        client.ok(client.get(admin.repo_path(instance, "other/app")))
    finally:
        client.close()
        admin.delete(f"/groups/{group}")


def test_resource_set_validation(admin: ApiClient) -> None:
    error(admin.post("/resource-sets", json={"name": "has space"}), 400, "INVALID_INPUT")
    name = unique("set")
    admin.ok(admin.post("/resource-sets", json={"name": name}), 201)
    error(admin.post("/resource-sets", json={"name": name}), 409, "ALREADY_EXISTS")
    got = admin.get(f"/resource-sets/{name}")
    assert admin.ok(got)["name"] == name
    patched = admin.patch(
        f"/resource-sets/{name}",
        json={"description": "d"},
        headers={"If-Match": got.headers["etag"]},
    )
    assert admin.ok(patched)["description"] == "d"
    admin.ok(admin.delete(f"/resource-sets/{name}"), 204)


# ---- roles and policies -------------------------------------------------------------------


def test_policy_rules(admin: ApiClient, roles: Roles) -> None:
    long = "p" * 16
    msg = error(
        admin.post("/policies", json={"name": long, "document": allow("cr:*")}),
        400,
        "INVALID_INPUT",
    )["message"]
    assert "15" in msg
    bad_doc = {
        "Version": "1",
        "Statement": [
            allow("cr:*")["Statement"][0],
            {"Effect": "Maybe", "Action": "x", "Resource": "*"},
        ],
    }
    msg = error(
        admin.post("/policies", json={"name": unique("p"), "document": bad_doc}),
        400,
        "INVALID_INPUT",
    )["message"]
    assert "Statement[1]" in msg and "Effect" in msg
    msg = error(
        admin.post("/policies", json={"name": unique("p"), "document": {"Version": "2"}}),
        400,
        "INVALID_INPUT",
    )["message"]
    assert "Version" in msg

    name = make_policy(admin, allow("cr:Get*"), description="reads")
    got = admin.ok(admin.get(f"/policies/{name}"))
    assert got["document"] == allow("cr:Get*") and got["builtin"] is False
    assert got["sharingScope"] == "global"
    error(
        admin.post("/policies", json={"name": name, "document": allow("cr:X")}),
        409,
        "ALREADY_EXISTS",
    )
    updated = admin.ok(admin.patch(f"/policies/{name}", json={"document": allow("cr:List*")}))
    assert updated["document"] == allow("cr:List*")

    # Built-ins are exempt from the 15-character rule, and fixed.
    builtins = {
        p["name"]: p for p in admin.ok(admin.get("/policies", params={"pageSize": 100}))["items"]
    }
    assert builtins["AliyunContainerRegistryFullAccess"]["builtin"] is True
    for verb, call in (
        (
            "modified",
            lambda: admin.patch("/policies/AdministratorAccess", json={"description": "x"}),
        ),
        ("deleted", lambda: admin.delete("/policies/AliyunContainerRegistryReadOnlyAccess")),
    ):
        assert verb in error(call(), 409, "CONFLICT")["message"]

    # Deleting a policy detaches it from its roles.
    role = roles.make(name)
    assert admin.ok(admin.get(f"/roles/{role}"))["policies"] == [name]
    admin.ok(admin.delete(f"/policies/{name}"), 204)
    assert admin.ok(admin.get(f"/roles/{role}"))["policies"] == []


def test_role_rules_and_builtin_administrator(admin: ApiClient, roles: Roles) -> None:
    error(admin.post("/roles", json={"name": "bad name"}), 400, "INVALID_INPUT")
    error(
        admin.post("/roles", json={"name": "ok", "sharingScope": "world"}), 422, "VALIDATION_FAILED"
    )
    error(
        admin.post("/roles", json={"name": unique("r"), "policies": ["nosuch"]}), 404, "NOT_FOUND"
    )
    role = roles.make(description="d", sharingScope="organization")
    got = admin.ok(admin.get(f"/roles/{role}"))
    # Made by an administrator: always global.
    assert got["sharingScope"] == "global" and got["builtin"] is False
    error(admin.post("/roles", json={"name": role}), 409, "ALREADY_EXISTS")
    patched = admin.ok(admin.patch(f"/roles/{role}", json={"sharingScope": "subtree"}))
    assert patched["sharingScope"] == "global" and patched["description"] == "d"

    administrator = admin.ok(admin.get("/roles/Administrator"))
    assert administrator["builtin"] and administrator["policies"] == ["AdministratorAccess"]
    assert "deleted" in error(admin.delete("/roles/Administrator"), 409, "CONFLICT")["message"]
    assert (
        "modified"
        in error(admin.patch("/roles/Administrator", json={"description": "x"}), 409, "CONFLICT")[
            "message"
        ]
    )
    resp = admin.delete("/roles/Administrator/policies/AdministratorAccess")
    error(resp, 409, "CONFLICT")

    # The last administrator cannot lose the role, nor be deleted or disabled.
    for resp in (
        admin.delete("/users/admin/roles/Administrator"),
        admin.delete("/users/admin"),
        admin.patch("/users/admin", json={"disabled": True}),
    ):
        assert "last administrator" in error(resp, 409, "CONFLICT")["message"]
    assert "Administrator" in admin.ok(admin.get("/users/admin"))["roles"]


def test_last_administrator_through_groups(
    admin: ApiClient, root: str, server: DockyardServer
) -> None:
    """A second administrator (through a group) lets admin lose the role; then not them."""
    other = make_user(admin, root)
    group = unique("admins")
    admin.ok(admin.post("/groups", json={"name": group, "organizationId": root}), 201)
    admin.ok(admin.request("PUT", f"/groups/{group}/roles/Administrator"))
    admin.ok(admin.request("PUT", f"/groups/{group}/members/{other}"))
    second = session(server, other)
    try:
        admin.ok(admin.delete("/users/admin/roles/Administrator"))
        error(admin.get("/users"), 403, "DENIED")
        resp = second.delete(f"/groups/{group}/members/{other}")
        assert "last administrator" in error(resp, 409, "CONFLICT")["message"]
        error(second.delete(f"/groups/{group}/roles/Administrator"), 409, "CONFLICT")
        error(second.delete(f"/groups/{group}"), 409, "CONFLICT")
        error(second.patch(f"/users/{other}", json={"disabled": True}), 409, "CONFLICT")
    finally:
        second.ok(second.request("PUT", "/users/admin/roles/Administrator"))
        second.close()
    admin.ok(admin.delete(f"/groups/{group}"), 204)
    admin.ok(admin.delete(f"/users/{other}"), 204)


def test_five_policies_per_role(admin: ApiClient, roles: Roles) -> None:
    policies = [make_policy(admin, allow(f"cr:Get{i}")) for i in range(8)]
    error(
        admin.post("/roles", json={"name": unique("r"), "policies": policies[:6]}),
        409,
        "LIMIT_EXCEEDED",
    )
    role = roles.make(*policies[:4])
    admin.ok(admin.request("PUT", f"/roles/{role}/policies/{policies[4]}"))
    # Attaching one it already carries is a no-op, not a sixth.
    admin.ok(admin.request("PUT", f"/roles/{role}/policies/{policies[4]}"))
    msg = error(
        admin.request("PUT", f"/roles/{role}/policies/{policies[5]}"), 409, "LIMIT_EXCEEDED"
    )["message"]
    assert "at most 5" in msg
    admin.ok(admin.delete(f"/roles/{role}/policies/{policies[0]}"))
    admin.ok(admin.request("PUT", f"/roles/{role}/policies/{policies[5]}"))
    assert len(admin.ok(admin.get(f"/roles/{role}"))["policies"]) == 5

    # Concurrent attaches of different policies to an empty role: exactly five succeed.
    empty = roles.make()
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda p: admin.request("PUT", f"/roles/{empty}/policies/{p}").status_code, policies
            )
        )
    assert sorted(codes) == [200] * 5 + [409] * 3, codes
    assert len(admin.ok(admin.get(f"/roles/{empty}"))["policies"]) == 5


def test_deleting_a_role_cleans_its_grants(admin: ApiClient, root: str, roles: Roles) -> None:
    role = roles.make()
    user = make_user(admin, root, roles=[role])
    group = unique("grp")
    admin.ok(admin.post("/groups", json={"name": group, "organizationId": root}), 201)
    admin.ok(admin.request("PUT", f"/groups/{group}/roles/{role}"))
    assert admin.ok(admin.get(f"/users/{user}"))["roles"] == [role]
    admin.ok(admin.delete(f"/roles/{role}"), 204)
    assert admin.ok(admin.get(f"/users/{user}"))["roles"] == []
    assert admin.ok(admin.get(f"/groups/{group}"))["roles"] == []
    admin.delete(f"/groups/{group}")
    admin.delete(f"/users/{user}")


# ---- sharing scopes -----------------------------------------------------------------------


def test_sharing_scope_decides_who_may_attach(
    admin: ApiClient, root: str, server: DockyardServer, roles: Roles
) -> None:
    a = make_org(admin, root)
    a1 = make_org(admin, a)
    b = make_org(admin, root)
    # Identity managers that are not administrators: ram:* on everything.
    manager = roles.make(make_policy(admin, allow("ram:*")))
    maker_name = make_user(admin, a, roles=[manager])
    child_name = make_user(admin, a1, roles=[manager])
    outsider_name = make_user(admin, b, roles=[manager])
    target = make_user(admin, root)
    maker, child, outsider = (session(server, n) for n in (maker_name, child_name, outsider_name))
    try:
        org_only = roles.make(client=maker, sharingScope="organization")
        subtree = roles.make(client=maker, sharingScope="subtree")
        shared = roles.make(client=maker)
        assert admin.ok(admin.get(f"/roles/{org_only}"))["organizationId"] == a
        p_org = make_policy(maker, allow("cr:GetX"), sharingScope="organization")
        p_sub = make_policy(maker, allow("cr:GetY"), sharingScope="subtree")

        # The creator's organization may attach all of them.
        maker.ok(maker.request("PUT", f"/users/{target}/roles/{org_only}"))
        maker.ok(maker.request("PUT", f"/roles/{shared}/policies/{p_org}"))
        # A subordinate organization: subtree yes, organization no.
        msg = error(child.request("PUT", f"/users/{target}/roles/{org_only}"), 403, "DENIED")[
            "message"
        ]
        assert org_only in msg and "organization" in msg
        child.ok(child.request("PUT", f"/users/{target}/roles/{subtree}"))
        error(child.request("PUT", f"/roles/{shared}/policies/{p_org}"), 403, "DENIED")
        child.ok(child.request("PUT", f"/roles/{shared}/policies/{p_sub}"))
        # Another branch: neither; global roles: anyone.
        error(outsider.request("PUT", f"/users/{target}/roles/{subtree}"), 403, "DENIED")
        group = unique("grp")
        outsider.ok(outsider.post("/groups", json={"name": group, "organizationId": b}), 201)
        error(outsider.request("PUT", f"/groups/{group}/roles/{subtree}"), 403, "DENIED")
        outsider.ok(outsider.request("PUT", f"/groups/{group}/roles/{shared}"))
        error(
            outsider.post("/roles", json={"name": unique("r"), "policies": [p_sub]}), 403, "DENIED"
        )
        # The creator may widen the scope of their own role.
        widened = maker.ok(maker.patch(f"/roles/{org_only}", json={"sharingScope": "subtree"}))
        assert widened["sharingScope"] == "subtree"
        child.ok(child.request("PUT", f"/users/{target}/roles/{org_only}"))
        # Administrators may attach anything.
        admin.ok(admin.request("PUT", f"/groups/{group}/roles/{org_only}"))
        admin.delete(f"/groups/{group}")
    finally:
        for c in (maker, child, outsider):
            c.close()


# ---- the "why" ----------------------------------------------------------------------------


def test_simulate_explains_decisions(admin: ApiClient, root: str, roles: Roles) -> None:
    arn = "acs:cr:local:1:repository/team/app"
    deny = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cr:Pull*", "Resource": "*"},
            {"Effect": "Deny", "Action": "cr:PullRepository", "Resource": "*:repository/secret/*"},
        ],
    }
    policy = make_policy(admin, deny)
    user = make_user(admin, root, roles=[roles.make(policy)])

    def simulate(action: str, resource: str) -> dict[str, Any]:
        body = {"username": user, "action": action, "resource": resource}
        return dict(admin.ok(admin.post("/authorization/simulate", json=body)))

    allowed = simulate("cr:PullRepository", arn)
    assert allowed == {
        "allowed": True,
        "reason": allowed["reason"],
        "policy": policy,
        "statement": 0,
    }
    assert policy in allowed["reason"]
    denied = simulate("cr:PullRepository", "acs:cr:local:1:repository/secret/app")
    assert denied["allowed"] is False and denied["policy"] == policy and denied["statement"] == 1
    nothing = simulate("cr:PushRepository", arn)
    assert (
        nothing["allowed"] is False and nothing["policy"] is None and nothing["statement"] is None
    )
    assert "no statement" in nothing["reason"]
    own = simulate("ram:GetUser", f"acs:ram::x:user/{user}")
    assert own["policy"] in (None, "SelfService")
    error(
        admin.post(
            "/authorization/simulate", json={"username": "nosuch", "action": "x", "resource": "*"}
        ),
        404,
        "NOT_FOUND",
    )


# ---- logon policies -----------------------------------------------------------------------


def test_logon_policies(admin: ApiClient, root: str) -> None:
    name = unique("lp")
    body = {
        "name": name,
        "timeWindows": [{"start": "08:00", "end": "20:00"}],
        "cidrs": ["10.0.0.0/8"],
    }
    created = admin.ok(admin.post("/logon-policies", json=body), 201)
    assert created["timeWindows"] == [{"start": "08:00", "end": "20:00"}]
    error(admin.post("/logon-policies", json=body), 409, "ALREADY_EXISTS")
    bad = {"name": unique("lp"), "timeWindows": [{"start": "25:00", "end": "20:00"}]}
    assert (
        "timeWindows"
        in error(admin.post("/logon-policies", json=bad), 400, "INVALID_INPUT")["message"]
    )
    bad = {"name": unique("lp"), "cidrs": ["10.0.0.0/33"]}
    assert (
        "cidrs" in error(admin.post("/logon-policies", json=bad), 400, "INVALID_INPUT")["message"]
    )
    user = make_user(admin, root, logonPolicy=name)
    assert admin.ok(admin.get(f"/users/{user}"))["logonPolicy"] == name
    patched = admin.ok(admin.patch(f"/logon-policies/{name}", json={"cidrs": []}))
    assert patched["cidrs"] == [] and patched["timeWindows"] == created["timeWindows"]
    admin.ok(admin.delete(f"/logon-policies/{name}"), 204)
    assert admin.ok(admin.get(f"/users/{user}"))["logonPolicy"] is None
    admin.delete(f"/users/{user}")


def test_openapi_names_every_identity_action(admin: ApiClient) -> None:
    doc = admin.http.get(admin.server.url + "/api/v1/openapi.json")
    if doc.status_code != 200:
        doc = admin.get("/openapi.json")
    spec = admin.ok(doc)
    found = {
        op["x-dockyard-action"]
        for path, ops in spec["paths"].items()
        if path.startswith(
            (
                "/api/v1/users",
                "/api/v1/groups",
                "/api/v1/roles",
                "/api/v1/policies",
                "/api/v1/organizations",
                "/api/v1/resource-sets",
                "/api/v1/logon-policies",
                "/api/v1/authorization",
            )
        )
        for op in ops.values()
        if isinstance(op, dict) and "x-dockyard-action" in op
    }
    for action in (
        "ram:CreateUser",
        "ram:AttachRoleToUser",
        "ram:SetUserMFA",
        "ram:AddUserToGroup",
        "ram:LinkResourceSetToGroup",
        "ram:AttachPolicyToRole",
        "ram:CreateLogonPolicy",
        "ram:SimulatePolicy",
        "ram:DeleteOrganization",
    ):
        assert action in found, action
