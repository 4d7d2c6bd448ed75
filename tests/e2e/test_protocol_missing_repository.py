"""Every route on a repository that does not exist: who may act on it learns NAME_UNKNOWN,
who may not is challenged and learns nothing, and a refused push creates nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.e2e.regclient import RegistryClient, canonical, describe, digest_of, expect

pytestmark = pytest.mark.e2e

DIGEST = digest_of(b"never pushed")
# Fixed, so that every xdist worker collects the same test ids.
UPLOAD = "0b0a3b52-7d5e-4c1f-9a61-3f2e1d0c9b8a"

#: (method, path under /v2/<name>/, query) of every route that needs an existing repository.
ROUTES_ON_EXISTING = [
    ("GET", f"blobs/{DIGEST}", None),
    ("HEAD", f"blobs/{DIGEST}", None),
    ("DELETE", f"blobs/{DIGEST}", None),
    ("GET", "manifests/latest", None),
    ("HEAD", "manifests/latest", None),
    ("DELETE", f"manifests/{DIGEST}", None),
    ("GET", "tags/list", None),
    ("GET", "tags/list", {"n": "not-a-number"}),
    ("GET", f"referrers/{DIGEST}", None),
    ("GET", f"blobs/uploads/{UPLOAD}", None),
    ("PATCH", f"blobs/uploads/{UPLOAD}", None),
    ("PUT", f"blobs/uploads/{UPLOAD}", {"digest": DIGEST}),
    ("DELETE", f"blobs/uploads/{UPLOAD}", None),
]


@pytest.mark.parametrize(("method", "path", "query"), ROUTES_ON_EXISTING)
def test_missing_repository_is_name_unknown_to_whoever_may_act_on_it(
    client: RegistryClient,
    new_repo: Callable[[str], str],
    method: str,
    path: str,
    query: dict[str, str] | None,
) -> None:
    resp = client.request(method, f"/v2/{new_repo('ghost')}/{path}", params=query)
    if method == "HEAD":
        assert resp.status_code == 404 and resp.content == b"", describe(resp)
    else:
        expect(resp, 404, "NAME_UNKNOWN")


@pytest.mark.parametrize(("method", "path", "query"), ROUTES_ON_EXISTING)
def test_missing_repository_is_not_revealed_to_anonymous_callers(
    anon: RegistryClient,
    new_repo: Callable[[str], str],
    method: str,
    path: str,
    query: dict[str, str] | None,
) -> None:
    resp = anon.anon(method, f"/v2/{new_repo('ghost')}/{path}", params=query)
    assert resp.status_code == 401, describe(resp)
    assert resp.headers["www-authenticate"].startswith("Bearer "), describe(resp)


def test_refused_manifest_push_creates_no_repository(
    client: RegistryClient, new_repo: Callable[[str], str]
) -> None:
    name = new_repo("oversized")
    manifest = {"schemaVersion": 2, "annotations": {"pad": "x" * (4 * 1024 * 1024 + 10)}}
    resp = client.put_manifest(name, "big", canonical(manifest))
    assert resp.status_code == 413, describe(resp)
    expect(client.tags(name), 404, "NAME_UNKNOWN")
