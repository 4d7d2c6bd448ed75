"""Tag listing and its pagination."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from tests.e2e.regclient import (
    RegistryClient,
    describe,
    expect,
    parse_link,
)

pytestmark = pytest.mark.e2e

TAGS = ["1.0", "1.1", "2.0", "A", "B_x", "alpha", "beta", "latest", "v1", "v2.0-rc1", "z"]


@pytest.fixture(scope="module")
def tagged_repo(client: RegistryClient, tmp_path_factory) -> str:
    import secrets

    name = f"tags-{secrets.token_hex(4)}/many"
    img = client.random_image(name)
    for tag in TAGS:
        expect(client.put_manifest(name, tag, img.manifest), 201)
    return name


def test_list_all_tags(client: RegistryClient, tagged_repo: str) -> None:
    resp = expect(client.tags(tagged_repo), 200)
    body = resp.json()
    assert body["name"] == tagged_repo
    assert body["tags"] == sorted(TAGS), "tags must be in lexical order"
    assert "link" not in resp.headers, describe(resp)
    assert resp.headers.get("content-type", "").startswith("application/json")


def test_n_limits_results_and_link_points_to_next_page(
    client: RegistryClient, tagged_repo: str
) -> None:
    resp = expect(client.tags(tagged_repo, n=3), 200)
    assert resp.json()["tags"] == sorted(TAGS)[:3]
    link = resp.headers.get("link")
    assert link, describe(resp)
    assert 'rel="next"' in link
    nxt = parse_link(link)
    assert nxt is not None
    parts = urlsplit(nxt)
    assert parts.path == f"/v2/{tagged_repo}/tags/list", link
    q = parse_qs(parts.query)
    assert q.get("n") == ["3"] and q.get("last") == [sorted(TAGS)[2]], link


def test_follow_link_header_through_all_pages(client: RegistryClient, tagged_repo: str) -> None:
    seen: list[str] = []
    url: str | None = f"/v2/{tagged_repo}/tags/list?n=4"
    pages = 0
    while url:
        resp = expect(client.get(url), 200)
        page = resp.json()["tags"]
        assert 0 < len(page) <= 4
        seen += page
        url = parse_link(resp.headers.get("link"))
        pages += 1
        assert pages <= 10, "pagination does not terminate"
    assert seen == sorted(TAGS)
    assert pages == 3


def test_last_starts_after_the_given_tag(client: RegistryClient, tagged_repo: str) -> None:
    ordered = sorted(TAGS)
    first = expect(client.tags(tagged_repo, n=5), 200).json()["tags"]
    resp = expect(client.tags(tagged_repo, n=5, last=first[-1]), 200)
    assert resp.json()["tags"] == ordered[5:10]
    # last without n: everything after it.
    resp = expect(client.tags(tagged_repo, last="beta"), 200)
    assert resp.json()["tags"] == [t for t in ordered if t > "beta"]
    # last that is not itself a tag still works lexically.
    resp = expect(client.tags(tagged_repo, last="b"), 200)
    assert resp.json()["tags"] == [t for t in ordered if t > "b"]


def test_last_page_has_no_link(client: RegistryClient, tagged_repo: str) -> None:
    ordered = sorted(TAGS)
    resp = expect(client.tags(tagged_repo, n=5, last=ordered[-3]), 200)
    assert resp.json()["tags"] == ordered[-2:]
    assert "link" not in resp.headers, describe(resp)
    resp = expect(client.tags(tagged_repo, n=len(TAGS)), 200)
    assert resp.json()["tags"] == ordered
    resp = expect(client.tags(tagged_repo, last=ordered[-1]), 200)
    assert resp.json()["tags"] == []


def test_n_zero_is_empty_without_link(client: RegistryClient, tagged_repo: str) -> None:
    resp = expect(client.tags(tagged_repo, n=0), 200)
    assert resp.json()["tags"] == []
    assert "link" not in resp.headers, describe(resp)


@pytest.mark.parametrize("n", ["-1", "abc", "1.5"])
def test_bad_n_is_400(client: RegistryClient, tagged_repo: str, n: str) -> None:
    resp = client.get(f"/v2/{tagged_repo}/tags/list", params={"n": n})
    expect(resp, 400, "PAGINATION_NUMBER_INVALID")


def test_tags_of_unknown_repository_is_name_unknown(client: RegistryClient, new_repo) -> None:
    expect(client.tags(new_repo("ghost")), 404, "NAME_UNKNOWN")


def test_tags_reflect_tag_deletion(client: RegistryClient, repo: str) -> None:
    img = client.random_image(repo, "one")
    expect(client.put_manifest(repo, "two", img.manifest), 201)
    assert expect(client.tags(repo), 200).json()["tags"] == ["one", "two"]
    expect(client.delete_manifest(repo, "one"), 202)
    assert expect(client.tags(repo), 200).json()["tags"] == ["two"]
