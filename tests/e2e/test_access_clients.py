"""Policies against real clients: skopeo and podman, authentication on, both ARN forms.

One server of this module holds two instances: the default one (Advanced, reached as
``127.0.0.1:PORT``) and a Standard one whose endpoint domain is ``localhost`` (reached as
``localhost:PORT``). Each has namespaces ``team`` and ``other`` with the private
repositories ``team/app`` and ``other/app`` and the public ``other/pub``, pushed by the
administrator. A user per instance holds one custom policy: ``cr:PullRepository`` on
``acs:cr:local:$account:repository/[$iid/]team/*``, the instance's ARN form.

Users and their policies are written straight into the server's database, as
tests/api/conftest.py does (the identity API comes later). The token tests read the
server's signing key from its database and master key (white-box): that is how an expired
but otherwise valid token is made, with a control showing the same key with a live ``exp``
is accepted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from tests.conftest import DockyardServer
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient, jwt_claims, parse_challenge

from dockyard.metadata.models import Policy, Role, RolePolicy, User, UserRole
from dockyard.metadata.queries import identity as iq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.credentials import SIGNING_PURPOSE
from dockyard.services.passwords import hash_password
from dockyard.services.secrets import MasterKey

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

API = "/api/v1"
PASSWORD = "Pull-only-pass-1"
REFUSED = re.compile(r"denied|unauthorized|authentication required", re.IGNORECASE)


@dataclass(frozen=True)
class Side:
    """One instance as the clients see it."""

    edition: str
    instance_id: str
    host: str  # host:port the clients use
    user: str  # the user allowed to pull team/*
    resource: str  # the ARN pattern of that user's policy

    @property
    def creds(self) -> tuple[str, str]:
        return (self.user, PASSWORD)


@dataclass(frozen=True)
class World:
    server: DockyardServer
    account: str
    digest: str  # of the image in every repository, tag v1
    sides: dict[str, Side]
    service: str


def _db(server: DockyardServer) -> Database:
    return Database(f"sqlite+aiosqlite:///{server.data_dir / 'dockyard.db'}")


def _account_arn_id(server: DockyardServer) -> str:
    async def run() -> str:
        db = _db(server)
        try:
            async with db.read() as session:
                account = await tq.find_account(session)
                assert account is not None
                return account.arn_id
        finally:
            await db.dispose()

    return asyncio.run(run())


def _add_user_with_policy(
    server: DockyardServer, username: str, password: str, document: dict[str, Any]
) -> None:
    """A user holding one role with one custom policy (what the console would make)."""

    async def run() -> None:
        db = _db(server)
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
                policy = Policy(
                    account_id=account.id, name=f"pol-{username}"[:15], document=document
                )
                session.add_all([user, role, policy])
                await session.flush()
                session.add(RolePolicy(role_id=role.id, policy_id=policy.id))
                session.add(UserRole(user_id=user.id, role_id=role.id))
        finally:
            await db.dispose()

    asyncio.run(run())


def _server_signing_key(server: DockyardServer, kid: str) -> ECKey:
    """The server's private signing key ``kid``, from its database and master key."""

    async def run() -> ECKey:
        db = _db(server)
        try:
            async with db.read() as session:
                rows = await iq.active_signing_keys(session)
        finally:
            await db.dispose()
        (row,) = [r for r in rows if r.kid == kid]
        master = MasterKey.load(server.data_dir, None, create=False)
        pem = master.decrypt(row.private_key_encrypted, SIGNING_PURPOSE)
        return ECKey.import_key(pem, parameters={"kid": row.kid})

    return asyncio.run(run())


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("access-clients")
    with DockyardServer(base / "server") as server:
        api = httpx.Client(base_url=server.url + API, auth=server.admin, timeout=60)
        std = _ok(
            api.post(
                "/instances",
                json={
                    "name": "std",
                    "region": "local",
                    "edition": "Standard",
                    "endpoints": [{"networkType": "vpc", "domain": "localhost"}],
                },
            ),
            201,
        )["id"]
        account = _account_arn_id(server)
        sides = {
            "advanced": Side(
                "Advanced",
                "default",
                server.host,
                "adv-puller",
                f"acs:cr:local:{account}:repository/default/team/*",
            ),
            "standard": Side(
                "Standard",
                std,
                f"localhost:{server.port}",
                "std-puller",
                f"acs:cr:local:{account}:repository/team/*",
            ),
        }
        layout = C.make_oci_layout(base / "layout", tag="v1")
        admin = C.Skopeo(base / "admin-skopeo")
        for side in sides.values():
            for ns in ("team", "other"):
                _ok(api.post(f"/instances/{side.instance_id}/namespaces", json={"name": ns}), 201)
            for ns, repo, kind in (
                ("team", "app", "private"),
                ("other", "app", "private"),
                ("other", "pub", "public"),
            ):
                _ok(
                    api.post(
                        f"/instances/{side.instance_id}/namespaces/{ns}/repositories",
                        json={"name": repo, "type": kind},
                    ),
                    201,
                )
                ref = f"docker://{side.host}/{ns}/{repo}:v1"
                assert admin.copy(layout.oci_ref, ref, dest_creds=server.admin) == layout.digest
            policy = {
                "Version": "1",
                "Statement": [
                    {"Effect": "Allow", "Action": "cr:PullRepository", "Resource": side.resource}
                ],
            }
            _add_user_with_policy(server, side.user, PASSWORD, policy)
        challenge = httpx.get(f"{server.url}/v2/").headers["www-authenticate"]
        service = parse_challenge(challenge)[1]["service"]
        api.close()
        yield World(server, account, layout.digest, sides, service)


EDITIONS = ["advanced", "standard"]


def _refused(exc: C.ClientError) -> None:
    out = exc.stderr + exc.stdout
    assert REFUSED.search(out), out


def _admin_registry(world: World, side: Side) -> RegistryClient:
    return RegistryClient(f"http://{side.host}", *world.server.admin)


def _api(world: World) -> httpx.Client:
    return httpx.Client(base_url=world.server.url + API, auth=world.server.admin, timeout=60)


# -- the resource each edition's policy names ----------------------------------------------


def test_policy_resources_are_the_product_arn_forms(world: World) -> None:
    adv, std = world.sides["advanced"], world.sides["standard"]
    assert adv.resource == f"acs:cr:local:{world.account}:repository/default/team/*"
    assert std.resource == f"acs:cr:local:{world.account}:repository/team/*"
    assert re.fullmatch(r"\d{16}", world.account)


# -- pull allowed in the namespace --------------------------------------------------------


@pytest.mark.parametrize("edition", EDITIONS)
def test_pull_in_team_with_skopeo_and_podman(world: World, edition: str, tmp_path: Path) -> None:
    side = world.sides[edition]
    sk = C.Skopeo(tmp_path / "sk")
    ref = f"docker://{side.host}/team/app:v1"
    assert sk.copy(ref, f"oci:{tmp_path / 'out'}:v1", src_creds=side.creds) == world.digest
    assert C._sha256(sk.inspect_raw(ref, creds=side.creds)) == world.digest
    with C.Podman(tmp_path / "pm") as pm:
        pm.login(side.host, *side.creds)
        image = pm.pull(f"{side.host}/team/app:v1")
        assert image
        assert pm.image_digest(image) == world.digest


# -- push refused, and nothing written -----------------------------------------------------


@pytest.mark.parametrize("edition", EDITIONS)
def test_push_in_team_is_refused_and_writes_nothing(
    world: World, edition: str, tmp_path: Path
) -> None:
    side = world.sides[edition]
    layout = C.make_oci_layout(tmp_path / "layout", tag="evil")
    sk = C.Skopeo(tmp_path / "sk")
    for target in ("team/app:evil", "team/fresh:v1"):
        with pytest.raises(C.ClientError) as info:
            sk.copy(layout.oci_ref, f"docker://{side.host}/{target}", dest_creds=side.creds)
        _refused(info.value)
    with C.Podman(tmp_path / "pm") as pm:
        image = pm.pull(layout.oci_ref)
        with pytest.raises(C.ClientError) as info:
            pm.push(image, f"{side.host}/team/app:evil2", creds=side.creds)
        _refused(info.value)
    # The administrator sees nothing new: no tag, no blob, no repository.
    with _admin_registry(world, side) as admin:
        tags = admin.get("/v2/team/app/tags/list")
        assert tags.status_code == 200, tags.text
        assert tags.json()["tags"] == ["v1"]
        for blob in layout.blobs():
            if blob.media_type != C.OCI_MANIFEST:
                assert admin.head_blob("team/app", blob.digest).status_code == 404
        assert admin.get("/v2/team/fresh/tags/list").status_code == 404
    with _api(world) as api:
        path = f"/instances/{side.instance_id}/namespaces/team/repositories"
        assert api.get(f"{path}/fresh").status_code == 404
        assert api.get(f"{path}/app").status_code == 200


# -- other namespaces and the other edition's form ---------------------------------------


@pytest.mark.parametrize("edition", EDITIONS)
def test_pull_outside_team_is_refused(world: World, edition: str, tmp_path: Path) -> None:
    side = world.sides[edition]
    sk = C.Skopeo(tmp_path / "sk")
    with pytest.raises(C.ClientError) as info:
        sk.copy(
            f"docker://{side.host}/other/app:v1",
            f"oci:{tmp_path / 'out'}:v1",
            src_creds=side.creds,
        )
    _refused(info.value)
    with C.Podman(tmp_path / "pm") as pm, pytest.raises(C.ClientError) as info:
        pm.pull(f"{side.host}/other/app:v1", creds=side.creds)
    _refused(info.value)
    # The other instance's user holds the other ARN form: it names nothing here.
    stranger = world.sides["standard" if edition == "advanced" else "advanced"]
    with pytest.raises(C.ClientError) as info:
        sk.inspect_raw(f"docker://{side.host}/team/app:v1", creds=stranger.creds)
    _refused(info.value)


# -- anonymous ----------------------------------------------------------------------------


@pytest.mark.parametrize("edition", EDITIONS)
def test_anonymous_pull_public_only(world: World, edition: str, tmp_path: Path) -> None:
    side = world.sides[edition]
    sk = C.Skopeo(tmp_path / "sk")
    public = f"docker://{side.host}/other/pub:v1"
    assert sk.copy(public, f"oci:{tmp_path / 'out'}:v1") == world.digest
    for private in ("other/app:v1", "team/app:v1"):
        with pytest.raises(C.ClientError) as info:
            sk.inspect_raw(f"docker://{side.host}/{private}")
        _refused(info.value)
    with C.Podman(tmp_path / "pm") as pm:
        assert pm.image_digest(pm.pull(f"{side.host}/other/pub:v1")) == world.digest
        with pytest.raises(C.ClientError) as info:
            pm.pull(f"{side.host}/other/app:v1")
        _refused(info.value)
    # ...and a user allowed only team/* pulls the public repository too, but not push it.
    assert sk.copy(public, f"oci:{tmp_path / 'out2'}:v1", src_creds=side.creds) == world.digest


# -- tokens -------------------------------------------------------------------------------


def _token(world: World, side: Side, *scopes: str) -> str:
    resp = httpx.get(
        f"http://{side.host}/auth/token",
        params=[("service", world.service), *(("scope", s) for s in scopes)],
        auth=side.creds,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def _header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _get(side: Side, path: str, token: str, method: str = "GET") -> httpx.Response:
    return httpx.request(
        method,
        f"http://{side.host}{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": C.OCI_MANIFEST},
    )


def _assert_challenged(resp: httpx.Response, error: str | None = None) -> dict[str, str]:
    assert resp.status_code == 401, f"{resp.status_code} {resp.text}"
    scheme, params = parse_challenge(resp.headers["www-authenticate"])
    assert scheme == "bearer"
    assert params["realm"].endswith("/auth/token")
    if error is not None:
        assert params.get("error") == error, params
    return params


def test_forged_tokens_are_refused(world: World) -> None:
    side = world.sides["advanced"]
    token = _token(world, side, "repository:team/app:pull")
    manifest = "/v2/team/app/manifests/v1"
    assert _get(side, manifest, token).status_code == 200  # the genuine token works
    head, payload, signature = token.split(".")
    # 1. The signature altered (one character of it).
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    _assert_challenged(_get(side, manifest, f"{head}.{payload}.{flipped}"), "invalid_token")
    # 2. The payload altered (more access), the signature kept.
    claims = jwt_claims(token)
    claims["access"] = [{"type": "repository", "name": "other/app", "actions": ["pull", "push"]}]
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{head}.{body}.{signature}"
    _assert_challenged(_get(side, "/v2/other/app/manifests/v1", forged), "invalid_token")
    # 3. Signed with another key, under the server's key id.
    foreign = ECKey.generate_key("P-256", parameters={"kid": _header(token)["kid"]})
    signed = jwt.encode(_header(token), claims, foreign, algorithms=["ES256"])
    _assert_challenged(_get(side, "/v2/other/app/manifests/v1", signed), "invalid_token")
    # 4. No signature at all.
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    _assert_challenged(_get(side, manifest, f"{none_head}.{body}."), "invalid_token")
    # 5. Garbage.
    _assert_challenged(_get(side, manifest, "not-a-token"), "invalid_token")


def test_expired_token_is_refused(world: World) -> None:
    side = world.sides["advanced"]
    genuine = _token(world, side, "repository:team/app:pull")
    key = _server_signing_key(world.server, _header(genuine)["kid"])
    claims = jwt_claims(genuine)
    manifest = "/v2/team/app/manifests/v1"
    now = int(time.time())

    def signed(**changes: Any) -> str:
        return jwt.encode(
            _header(genuine), {**claims, "jti": uuid.uuid4().hex, **changes}, key, ["ES256"]
        )

    # Control: the server's own key with a live exp is accepted (the white-box signing is
    # right), so the refusals below are about the exp and the access, nothing else.
    assert _get(side, manifest, signed(iat=now, exp=now + 300)).status_code == 200
    expired = signed(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    _assert_challenged(_get(side, manifest, expired), "invalid_token")
    just_expired = signed(iat=now - 400, nbf=now - 400, exp=now - 100)
    _assert_challenged(_get(side, manifest, just_expired), "invalid_token")
    # A token signed by the server's key for another audience (a session token's) is not
    # a registry token.
    session_like = signed(aud=f"{world.service}:api", exp=now + 300)
    _assert_challenged(_get(side, manifest, session_like), "invalid_token")


def test_token_of_another_scope_is_refused(world: World) -> None:
    adv, std = world.sides["advanced"], world.sides["standard"]
    token = _token(world, adv, "repository:team/app:pull")
    assert jwt_claims(token)["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]}
    ]
    # Used to push to the same repository.
    start = httpx.post(
        f"http://{adv.host}/v2/team/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
    )
    params = _assert_challenged(start, "insufficient_scope")
    assert params["scope"] == "repository:team/app:pull,push"
    # Used to pull another repository.
    params = _assert_challenged(
        _get(adv, "/v2/other/app/manifests/v1", token), "insufficient_scope"
    )
    assert params["scope"] == "repository:other/app:pull"
    # Used on another instance (the Standard one, same names).
    _assert_challenged(_get(std, "/v2/team/app/manifests/v1", token), "insufficient_scope")
    # Asking for more than the policy allows yields a token without it.
    wide = _token(world, adv, "repository:team/app:pull,push,delete", "repository:other/app:pull")
    assert jwt_claims(wide)["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]}
    ]
    _assert_challenged(_get(adv, "/v2/other/app/manifests/v1", wide), "insufficient_scope")
    delete = _get(adv, f"/v2/team/app/manifests/{world.digest}", wide, method="DELETE")
    _assert_challenged(delete, "insufficient_scope")
    # The administrator still sees team/app:v1 and other/app:v1.
    with _admin_registry(world, adv) as admin:
        assert admin.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
        assert admin.get("/v2/other/app/tags/list").json()["tags"] == ["v1"]


# -- a resource set, made through the management API --------------------------------------

SCOPED_USER, SCOPED_PASSWORD = "set-member", "Set-member-pass-1"


def _items(body: Any) -> list[dict[str, Any]]:
    return list(body["items"] if isinstance(body, dict) else body)


@pytest.fixture(scope="module")
def set_member(world: World) -> tuple[str, str]:
    """A user whose only permissions come through a group linked to a resource set holding
    namespace ``team`` of both instances; the group's role allows pull and push on ``*``.
    Everything through ``/api/v1`` as the administrator."""
    with _api(world) as api:
        root = next(o for o in _items(_ok(api.get("/organizations"))) if o["name"] == "root")
        _ok(
            api.post(
                "/policies",
                json={
                    "name": "PullPushAll",
                    "document": {
                        "Version": "1",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["cr:PullRepository", "cr:PushRepository"],
                                "Resource": "*",
                            }
                        ],
                    },
                },
            ),
            201,
        )
        _ok(api.post("/roles", json={"name": "team-rw", "policies": ["PullPushAll"]}), 201)
        _ok(
            api.post(
                "/users",
                json={
                    "username": SCOPED_USER,
                    "displayName": SCOPED_USER,
                    "organizationId": root["id"],
                    "email": "member@example.com",
                    "phone": "13800000000",
                    "password": "Console-pass-1",
                },
            ),
            201,
        )
        resp = api.put(
            f"/users/{SCOPED_USER}/registry-password",
            json={"password": SCOPED_PASSWORD, "confirm": SCOPED_PASSWORD},
        )
        assert resp.status_code == 204, resp.text
        _ok(api.post("/groups", json={"name": "team-devs", "organizationId": root["id"]}), 201)
        for path in (
            f"/groups/team-devs/members/{SCOPED_USER}",
            "/groups/team-devs/roles/team-rw",
        ):
            assert api.put(path).status_code in (200, 204), api.put(path).text
        _ok(api.post("/resource-sets", json={"name": "team-set"}), 201)
        paths = ["/resource-sets/team-set/groups/team-devs"]
        paths += [
            f"/resource-sets/team-set/namespaces/{side.instance_id}/team"
            for side in world.sides.values()
        ]
        for path in paths:
            resp = api.put(path)
            assert resp.status_code in (200, 204), f"PUT {path}: {resp.text}"
    return (SCOPED_USER, SCOPED_PASSWORD)


@pytest.mark.parametrize("edition", EDITIONS)
def test_resource_set_member_acts_inside_the_set_only(
    world: World, set_member: tuple[str, str], edition: str, tmp_path: Path
) -> None:
    side = world.sides[edition]
    sk = C.Skopeo(tmp_path / "sk")
    # Inside the set: pull team/app, push a new repository team/member.
    ref = f"docker://{side.host}/team/app:v1"
    assert sk.copy(ref, f"oci:{tmp_path / 'out'}:v1", src_creds=set_member) == world.digest
    layout = C.make_oci_layout(tmp_path / "layout", tag="v1")
    pushed = sk.copy(layout.oci_ref, f"docker://{side.host}/team/member:v1", dest_creds=set_member)
    assert pushed == layout.digest
    # Outside: neither pull nor push, though the policy's Allow names '*'.
    with pytest.raises(C.ClientError) as info:
        sk.inspect_raw(f"docker://{side.host}/other/app:v1", creds=set_member)
    _refused(info.value)
    with pytest.raises(C.ClientError) as info:
        sk.copy(layout.oci_ref, f"docker://{side.host}/other/member:v1", dest_creds=set_member)
    _refused(info.value)
    with _admin_registry(world, side) as admin:
        assert admin.get("/v2/team/member/tags/list").json()["tags"] == ["v1"]
        assert admin.get("/v2/other/member/tags/list").status_code == 404
    # The simulation says why (the same authorize() the registry used).
    with _api(world) as api:
        arn = f"acs:cr:local:{world.account}:repository/" + (
            "default/" if edition == "advanced" else ""
        )
        inside = _ok(
            api.post(
                "/authorization/simulate",
                json={
                    "username": SCOPED_USER,
                    "action": "cr:PushRepository",
                    "resource": arn + "team/app",
                },
            )
        )
        assert inside["allowed"] is True and inside["policy"] == "PullPushAll"
        outside = _ok(
            api.post(
                "/authorization/simulate",
                json={
                    "username": SCOPED_USER,
                    "action": "cr:PushRepository",
                    "resource": arn + "other/app",
                },
            )
        )
        assert outside["allowed"] is False and outside["policy"] is None


# -- an explicit Deny beats "anyone may pull a public repository" -------------------------


@pytest.fixture(scope="module")
def no_public_pull(world: World) -> tuple[str, str]:
    """A user allowed to pull team/* of the default instance, and explicitly denied
    pulling other/pub (a public repository)."""
    side = world.sides["advanced"]
    _add_user_with_policy(
        world.server,
        "pub-denied",
        PASSWORD,
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "cr:PullRepository", "Resource": side.resource},
                {"Effect": "Deny", "Action": "cr:PullRepository", "Resource": "*:repository/*/pub"},
            ],
        },
    )
    return ("pub-denied", PASSWORD)


def test_explicit_deny_beats_public_pull_with_basic_credentials(
    world: World, no_public_pull: tuple[str, str]
) -> None:
    side = world.sides["advanced"]
    url = f"http://{side.host}/v2/other/pub/manifests/v1"
    headers = {"Accept": C.OCI_MANIFEST}
    assert httpx.get(url, headers=headers).status_code == 200  # anonymous: public
    denied = httpx.get(url, headers=headers, auth=no_public_pull)
    assert denied.status_code == 403, denied.text
    # The token endpoint grants nothing on it either.
    token = _token(
        world,
        Side("Advanced", "default", side.host, no_public_pull[0], ""),
        "repository:other/pub:pull",
    )
    assert jwt_claims(token)["access"] == []


def test_explicit_deny_beats_public_pull_with_skopeo(
    world: World, no_public_pull: tuple[str, str], tmp_path: Path
) -> None:
    side = world.sides["advanced"]
    sk = C.Skopeo(tmp_path / "sk")
    with pytest.raises(C.ClientError) as info:
        sk.inspect_raw(f"docker://{side.host}/other/pub:v1", creds=no_public_pull)
    _refused(info.value)
