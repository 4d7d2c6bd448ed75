"""The catalog and its pagination."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.e2e.regclient import (
    RegistryClient,
    describe,
    expect,
    parse_link,
)

pytestmark = pytest.mark.e2e


def _walk(client: RegistryClient, first_url: str, limit: int = 500) -> tuple[list[str], int]:
    seen: list[str] = []
    url: str | None = first_url
    pages = 0
    while url:
        resp = expect(client.get(url), 200)
        seen += resp.json()["repositories"]
        url = parse_link(resp.headers.get("link"))
        pages += 1
        assert pages <= limit, "catalog pagination does not terminate"
    return seen, pages


def test_catalog_on_a_fresh_registry(fresh_registry) -> None:
    server = fresh_registry()
    names = sorted(["alpha/one", "alpha/two", "beta/x", "gamma_ns/y-1", "zz/last"])
    with RegistryClient(server.url, *server.admin) as c:
        assert expect(c.catalog(), 200).json() == {"repositories": []}
        for name in names:
            c.random_image(name, "v1")
        resp = expect(c.catalog(), 200)
        assert resp.json() == {"repositories": names}
        assert "link" not in resp.headers

        resp = expect(c.catalog(n=2), 200)
        assert resp.json()["repositories"] == names[:2]
        link = resp.headers.get("link")
        assert link and 'rel="next"' in link, describe(resp)
        nxt = urlsplit(parse_link(link) or "")
        assert nxt.path == "/v2/_catalog"
        q = parse_qs(nxt.query)
        assert q.get("n") == ["2"] and q.get("last") == [names[1]], link

        seen, pages = _walk(c, "/v2/_catalog?n=2")
        assert seen == names and pages == 3

        assert expect(c.catalog(n=2, last="alpha/two"), 200).json()["repositories"] == names[2:4]
        last_page = expect(c.catalog(n=10, last="beta/x"), 200)
        assert last_page.json()["repositories"] == names[3:]
        assert "link" not in last_page.headers
        zero = expect(c.catalog(n=0), 200)
        assert zero.json()["repositories"] == []
        assert "link" not in zero.headers


def test_catalog_contains_pushed_repositories_in_order(client: RegistryClient) -> None:
    prefix = f"cat-{secrets.token_hex(4)}"
    names = [f"{prefix}/r{i}" for i in range(5)]
    for name in reversed(names):
        client.push_blob(name, name.encode())
    # Start just before our namespace and page through it, two at a time.
    seen: list[str] = []
    url: str | None = f"/v2/_catalog?n=2&last={prefix}"
    while url:
        resp = expect(client.get(url), 200)
        page = resp.json()["repositories"]
        assert len(page) <= 2
        assert page == sorted(page)
        seen += page
        if not page or not page[-1].startswith(prefix + "/"):
            break
        url = parse_link(resp.headers.get("link"))
    assert [s for s in seen if s.startswith(prefix + "/")] == names


def test_catalog_full_listing_is_sorted_and_unique(client: RegistryClient) -> None:
    client.push_blob(f"cat-{secrets.token_hex(4)}/sorted", b"x")
    repos = expect(client.catalog(), 200).json()["repositories"]
    assert repos == sorted(set(repos))
    paged, _ = _walk(client, "/v2/_catalog?n=7")
    assert paged == repos


def test_catalog_requires_authentication(registry) -> None:
    with RegistryClient(registry.url) as anon:
        resp = expect(anon.anon("GET", "/v2/_catalog"), 401, "UNAUTHORIZED")
        assert 'scope="registry:catalog:*"' in resp.headers.get("www-authenticate", "")


def test_catalog_with_catalog_token(client: RegistryClient) -> None:
    token = client.fetch_token(["registry:catalog:*"]).json()["token"]
    resp = expect(client.bearer("GET", "/v2/_catalog", token), 200)
    assert isinstance(resp.json()["repositories"], list)
    # A repository-scoped token is not a catalog token.
    repo_token = client.fetch_token(["repository:some-ns/some-repo:pull"]).json()["token"]
    resp = client.bearer("GET", "/v2/_catalog", repo_token)
    assert resp.status_code in (401, 403), describe(resp)


@pytest.mark.parametrize("n", ["-1", "abc"])
def test_catalog_bad_n_is_400(client: RegistryClient, n: str) -> None:
    """Same answer as tags/list gives for a bad ``n``."""
    resp = client.get("/v2/_catalog", params={"n": n})
    expect(resp, 400, "PAGINATION_NUMBER_INVALID")
