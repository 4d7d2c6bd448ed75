"""Base endpoint, health probes and Docker token authentication."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from tests.e2e.regclient import (
    OCI_MANIFEST,
    RegistryClient,
    describe,
    digest_of,
    error_codes,
    expect,
    jwt_claims,
    parse_challenge,
    random_bytes,
)

pytestmark = pytest.mark.e2e


def _challenge(resp: httpx.Response) -> dict[str, str]:
    header = resp.headers.get("www-authenticate")
    assert header, f"401 without WWW-Authenticate\n{describe(resp)}"
    scheme, params = parse_challenge(header)
    assert scheme == "bearer", describe(resp)
    return params


def _assert_unauthorized(resp: httpx.Response, registry, scope: str | None) -> None:
    expect(resp, 401)
    if resp.request.method != "HEAD":
        assert error_codes(resp) == ["UNAUTHORIZED"] or "UNAUTHORIZED" in error_codes(resp), (
            describe(resp)
        )
    ch = _challenge(resp)
    assert ch.get("realm") == registry.realm, describe(resp)
    assert ch.get("service") == "dockyard", describe(resp)
    if scope is not None:
        assert ch.get("scope") == scope, describe(resp)


# -- probes and /v2/ ------------------------------------------------------------------------


def test_health_and_readiness_probes_need_no_auth(anon: RegistryClient) -> None:
    expect(anon.anon("GET", "/healthz"), 200)
    expect(anon.anon("GET", "/readyz"), 200)


def test_base_endpoint_without_credentials_is_401_with_bearer_challenge(
    anon: RegistryClient, registry
) -> None:
    resp = anon.anon("GET", "/v2/")
    _assert_unauthorized(resp, registry, scope=None)
    assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_base_endpoint_with_basic_credentials(client: RegistryClient) -> None:
    resp = expect(client.basic("GET", "/v2/"), 200)
    assert resp.json() == {}


def test_base_endpoint_with_token(client: RegistryClient) -> None:
    token = client.fetch_token([]).json()["token"]
    resp = expect(client.bearer("GET", "/v2/", token), 200)
    assert resp.json() == {}


def test_base_endpoint_via_token_dance(admin_client: RegistryClient) -> None:
    resp = expect(admin_client.get("/v2/"), 200)
    assert resp.json() == {}


def test_base_endpoint_wrong_password_is_401(client: RegistryClient) -> None:
    resp = client.raw("GET", "/v2/", auth="basic", basic=("admin", "definitely-wrong"))
    expect(resp, 401, "UNAUTHORIZED")


def test_base_endpoint_garbage_bearer_is_401(client: RegistryClient) -> None:
    expect(client.bearer("GET", "/v2/", "not.a.jwt"), 401, "UNAUTHORIZED")
    expect(client.bearer("GET", "/v2/", "garbage"), 401, "UNAUTHORIZED")


# -- challenges carry the right scope ------------------------------------------------------------


def test_pull_endpoints_challenge_with_pull_scope(
    anon: RegistryClient, client: RegistryClient, registry, repo: str
) -> None:
    img = client.random_image(repo, "v1")
    scope = f"repository:{repo}:pull"
    for method, path in [
        ("GET", f"/v2/{repo}/manifests/v1"),
        ("HEAD", f"/v2/{repo}/manifests/v1"),
        ("GET", f"/v2/{repo}/manifests/{img.manifest_digest}"),
        ("GET", f"/v2/{repo}/blobs/{img.config_digest}"),
        ("HEAD", f"/v2/{repo}/blobs/{img.config_digest}"),
        ("GET", f"/v2/{repo}/tags/list"),
        ("GET", f"/v2/{repo}/referrers/{img.manifest_digest}"),
    ]:
        _assert_unauthorized(anon.anon(method, path), registry, scope)


def test_push_endpoints_challenge_with_pull_push_scope(
    anon: RegistryClient, client: RegistryClient, registry, repo: str
) -> None:
    client.push_blob(repo, b"seed")
    loc = client.upload_location(repo)
    scope = f"repository:{repo}:pull,push"
    data = b"hello"
    d = digest_of(data)
    for method, url, kw in [
        ("POST", f"/v2/{repo}/blobs/uploads/", {}),
        ("POST", f"/v2/{repo}/blobs/uploads/", {"params": {"digest": d}, "content": data}),
        ("PATCH", loc, {"content": data, "headers": {"Content-Type": "application/octet-stream"}}),
        ("PUT", loc, {"params": {"digest": d}, "content": data}),
        (
            "PUT",
            f"/v2/{repo}/manifests/v2",
            {"content": b"{}", "headers": {"Content-Type": OCI_MANIFEST}},
        ),
    ]:
        _assert_unauthorized(anon.anon(method, url, **kw), registry, scope)
    # Nothing was written by the refused requests.
    expect(client.head_blob(repo, d), 404)


def test_catalog_challenge_scope(anon: RegistryClient, registry) -> None:
    _assert_unauthorized(anon.anon("GET", "/v2/_catalog"), registry, "registry:catalog:*")


def test_anonymous_pull_of_private_repository_fails(
    anon: RegistryClient, client: RegistryClient, registry, repo: str
) -> None:
    img = client.random_image(repo, "latest")
    _assert_unauthorized(anon.get_manifest(repo, "latest"), registry, f"repository:{repo}:pull")
    _assert_unauthorized(
        anon.get_blob(repo, img.layer_digests[0]), registry, f"repository:{repo}:pull"
    )


# -- token endpoint -------------------------------------------------------------------------


def _assert_token_body(
    body: dict, scope_name: str | None = None, actions: set[str] | None = None
) -> str:
    for key in ("token", "access_token", "expires_in", "issued_at"):
        assert key in body, f"token response lacks {key!r}: {body!r}"
    assert body["token"] == body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    issued = dt.datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    now = dt.datetime.now(dt.UTC)
    assert abs((now - issued).total_seconds()) < 300, body["issued_at"]
    token = body["token"]
    assert token.count(".") == 2, f"not a JWT: {token!r}"
    claims = jwt_claims(token)
    assert isinstance(claims.get("exp"), int | float), claims
    assert claims["exp"] > now.timestamp(), claims
    if scope_name is not None:
        granted = {
            (a.get("type"), a.get("name")): set(a.get("actions", []))
            for a in claims.get("access", [])
        }
        assert ("repository", scope_name) in granted, claims
        assert actions is not None and actions <= granted[("repository", scope_name)], claims
    return str(token)


def test_token_get_with_basic(client: RegistryClient, repo: str) -> None:
    resp = expect(client.fetch_token([f"repository:{repo}:pull,push"]), 200)
    token = _assert_token_body(resp.json(), repo, {"pull", "push"})
    # The token is good for pushing and pulling that repository.
    d = digest_of(b"token-get")
    r = client.bearer(
        "POST", f"/v2/{repo}/blobs/uploads/", token, params={"digest": d}, content=b"token-get"
    )
    expect(r, 201)
    expect(client.bearer("GET", f"/v2/{repo}/blobs/{d}", token), 200)


def test_token_get_with_several_scopes(client: RegistryClient, new_repo) -> None:
    a, b = new_repo("a"), new_repo("b")
    resp = expect(
        client.fetch_token([f"repository:{a}:pull,push", f"repository:{b}:pull,push"]), 200
    )
    token = _assert_token_body(resp.json(), a, {"pull", "push"})
    _assert_token_body(resp.json(), b, {"pull", "push"})
    for name in (a, b):
        data = name.encode()
        r = client.bearer(
            "POST",
            f"/v2/{name}/blobs/uploads/",
            token,
            params={"digest": digest_of(data)},
            content=data,
        )
        expect(r, 201)


def test_token_get_wrong_password_is_401(client: RegistryClient, repo: str) -> None:
    resp = client.fetch_token([f"repository:{repo}:pull"], credentials=("admin", "wrong"))
    assert resp.status_code == 401, describe(resp)
    resp = client.fetch_token([f"repository:{repo}:pull"], credentials=("nosuchuser", "x"))
    assert resp.status_code == 401, describe(resp)


def _our_service(client: RegistryClient) -> str:
    return _challenge(client.anon("GET", "/v2/"))["service"]


@pytest.mark.parametrize("credentials", [True, False], ids=["with credentials", "anonymous"])
def test_token_get_for_another_service_is_401(
    client: RegistryClient, repo: str, credentials: bool
) -> None:
    service = _our_service(client)
    for other in (f"{service}-other", service.upper(), ""):
        resp = client.fetch_token(
            [f"repository:{repo}:pull"], service=other, credentials=credentials
        )
        expect(resp, 401, "UNAUTHORIZED")
        assert "token" not in resp.json(), describe(resp)
    # One service of several that is not ours is refused too.
    params = [("service", service), ("service", "elsewhere")]
    resp = client.http.get(client.url("/auth/token"), params=params, auth=client.basic_auth)
    expect(resp, 401, "UNAUTHORIZED")


def test_token_get_for_our_service_or_none_is_issued(client: RegistryClient, repo: str) -> None:
    service = _our_service(client)
    scope = f"repository:{repo}:pull"
    assert expect(client.fetch_token([scope], service=service), 200).json()["token"]
    unnamed = client.http.get(
        client.url("/auth/token"), params={"scope": scope}, auth=client.basic_auth
    )
    assert expect(unnamed, 200).json()["token"]


def test_token_post_for_another_service_is_401(client: RegistryClient, registry, repo: str) -> None:
    service = _our_service(client)
    form = {
        "grant_type": "password",
        "username": registry.admin_user,
        "password": registry.admin_password,
        "scope": f"repository:{repo}:pull",
        "client_id": "dockyard-tests",
    }
    refused = client.anon("POST", "/auth/token", data={**form, "service": f"{service}-other"})
    assert refused.status_code == 401, describe(refused)
    assert refused.json()["error"] == "invalid_grant", describe(refused)
    assert "access_token" not in refused.json(), describe(refused)
    for accepted in ({**form, "service": service}, form):
        assert expect(client.anon("POST", "/auth/token", data=accepted), 200).json()["access_token"]


def test_token_post_password_grant_and_refresh(client: RegistryClient, registry, repo: str) -> None:
    scope = f"repository:{repo}:pull,push"
    form = {
        "grant_type": "password",
        "username": registry.admin_user,
        "password": registry.admin_password,
        "scope": scope,
        "service": "dockyard",
        "client_id": "dockyard-tests",
    }
    resp = expect(client.anon("POST", "/auth/token", data=form), 200)
    body = resp.json()
    assert body.get("access_token"), body
    assert "refresh_token" not in body or not body["refresh_token"], (
        f"refresh_token without access_type=offline: {body!r}"
    )
    assert isinstance(body.get("expires_in"), int) and body["expires_in"] > 0

    resp = expect(client.anon("POST", "/auth/token", data={**form, "access_type": "offline"}), 200)
    body = resp.json()
    access, refresh = body.get("access_token"), body.get("refresh_token")
    assert access and refresh, body
    data = b"post-grant"
    r = client.bearer(
        "POST",
        f"/v2/{repo}/blobs/uploads/",
        access,
        params={"digest": digest_of(data)},
        content=data,
    )
    expect(r, 201)

    resp = expect(
        client.anon(
            "POST",
            "/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "scope": scope,
                "service": "dockyard",
                "client_id": "dockyard-tests",
            },
        ),
        200,
    )
    body = resp.json()
    assert body.get("access_token"), body
    data2 = b"refreshed-grant"
    r = client.bearer(
        "POST",
        f"/v2/{repo}/blobs/uploads/",
        body["access_token"],
        params={"digest": digest_of(data2)},
        content=data2,
    )
    expect(r, 201)


def test_token_post_wrong_password_is_401(client: RegistryClient, repo: str) -> None:
    resp = client.anon(
        "POST",
        "/auth/token",
        data={
            "grant_type": "password",
            "username": "admin",
            "password": "wrong",
            "scope": f"repository:{repo}:pull",
            "service": "dockyard",
            "client_id": "t",
        },
    )
    assert resp.status_code == 401, describe(resp)


def test_token_post_bad_refresh_token_is_rejected(client: RegistryClient, repo: str) -> None:
    resp = client.anon(
        "POST",
        "/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "bogus-refresh-token",
            "scope": f"repository:{repo}:pull",
            "service": "dockyard",
            "client_id": "t",
        },
    )
    assert resp.status_code in (400, 401), describe(resp)
    assert "access_token" not in resp.text


def test_token_for_repo_a_cannot_push_repo_b(client: RegistryClient, new_repo) -> None:
    a, b = new_repo("a"), new_repo("b")
    token = client.fetch_token([f"repository:{a}:pull,push"]).json()["token"]
    data = random_bytes(64)
    resp = client.bearer(
        "POST", f"/v2/{b}/blobs/uploads/", token, params={"digest": digest_of(data)}, content=data
    )
    # The token spec's answer: 401 with a challenge naming the scope to ask for.
    expect(resp, 401, "UNAUTHORIZED")
    challenge = resp.headers.get("www-authenticate", "")
    assert (
        f'scope="repository:{b}:pull,push"' in challenge
        and 'error="insufficient_scope"' in challenge
    )
    # And the blob did not land in B (nor in A).
    expect(client.head_blob(b, digest_of(data)), 404)
    expect(client.head_blob(a, digest_of(data)), 404)


def test_pull_only_token_cannot_push(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, b"exists")
    token = client.fetch_token([f"repository:{repo}:pull"]).json()["token"]
    expect(client.bearer("GET", f"/v2/{repo}/blobs/{digest_of(b'exists')}", token), 200)
    data = b"pull-only"
    resp = client.bearer(
        "POST",
        f"/v2/{repo}/blobs/uploads/",
        token,
        params={"digest": digest_of(data)},
        content=data,
    )
    expect(resp, 401, "UNAUTHORIZED")
    assert 'error="insufficient_scope"' in resp.headers.get("www-authenticate", "")
    expect(client.head_blob(repo, digest_of(data)), 404)


def test_anonymous_token_on_private_repository_is_refused(
    anon: RegistryClient, client: RegistryClient, repo: str
) -> None:
    img = client.random_image(repo, "v1")
    resp = anon.fetch_token([f"repository:{repo}:pull"], credentials=False)
    if resp.status_code == 200:
        token = resp.json()["token"]
        claims = jwt_claims(token)
        granted = [a for a in claims.get("access", []) if a.get("name") == repo]
        assert not any(a.get("actions") for a in granted), claims
        r = anon.bearer("GET", f"/v2/{repo}/manifests/{img.manifest_digest}", token)
        expect(r, 401, "UNAUTHORIZED")
    else:
        assert resp.status_code == 401, describe(resp)


def test_tampered_token_is_rejected(client: RegistryClient, repo: str) -> None:
    client.push_blob(repo, b"tamper")
    token = client.fetch_token([f"repository:{repo}:pull"]).json()["token"]
    head, payload, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    resp = client.bearer(
        "GET", f"/v2/{repo}/blobs/{digest_of(b'tamper')}", f"{head}.{payload}.{flipped}"
    )
    expect(resp, 401, "UNAUTHORIZED")


def test_basic_credentials_work_directly_on_repository_endpoints(
    client: RegistryClient, repo: str
) -> None:
    data = random_bytes(100)
    d = digest_of(data)
    resp = client.basic(
        "POST",
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": d},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    expect(resp, 201)
    got = expect(client.basic("GET", f"/v2/{repo}/blobs/{d}"), 200)
    assert got.content == data
    expect(client.basic("GET", f"/v2/{repo}/tags/list"), 200)


def test_token_from_one_worker_is_valid_on_the_other(worker_pair, repo: str) -> None:
    """Tokens are signed with a key every worker shares: issue on A, use on B and back."""
    a, b = worker_pair
    data = random_bytes(32)
    d = a.push_blob(repo, data)
    for issuer, user in ((a, b), (b, a)):
        token = expect(issuer.fetch_token([f"repository:{repo}:pull"]), 200).json()["token"]
        for _ in range(3):
            r = expect(user.bearer("GET", f"/v2/{repo}/blobs/{d}", token), 200)
            assert r.content == data
