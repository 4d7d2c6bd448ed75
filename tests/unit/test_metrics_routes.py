"""Requests are labelled by route class, never by raw path (labels stay few)."""

from __future__ import annotations

import pytest

from dockyard.metrics.middleware import route_class

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2", "base"),
        ("/v2/", "base"),
        ("/v2/_catalog", "catalog"),
        ("/v2/team/app/manifests/latest", "manifest"),
        ("/v2/team/app/manifests/sha256:" + "a" * 64, "manifest"),
        ("/v2/team/app/blobs/sha256:" + "b" * 64, "blob"),
        ("/v2/team/app/blobs/uploads", "upload"),
        ("/v2/team/app/blobs/uploads/", "upload"),
        ("/v2/team/app/blobs/uploads/0c6e0a8e-5f9b-4c1e-9d4e-1f0b2f3c4d5e", "upload"),
        ("/v2/team/app/tags/list", "tags"),
        ("/v2/team/app/referrers/sha256:" + "c" * 64, "referrers"),
        # A repository named like a route segment is classified by what follows it.
        ("/v2/manifests/blobs/manifests/v1", "manifest"),
        ("/v2/blobs/tags/list", "tags"),
        ("/v2/team/app/unknown/thing", "other"),
        ("/auth/token", "token"),
        ("/api", "api"),
        ("/api/v1/namespaces", "api"),
        ("/apis", "other"),
        ("/metrics", "metrics"),
        ("/healthz", "other"),
        ("/", "other"),
    ],
)
def test_route_class(path: str, expected: str) -> None:
    assert route_class(path) == expected
