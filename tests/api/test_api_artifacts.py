"""Tags, manifests and layers through the API; tag deletion and immutability."""

from __future__ import annotations

import pytest
from tests.api.conftest import (
    OCI_INDEX,
    ApiClient,
    Pusher,
    canonical,
    error,
    sha256,
    unique,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def repo(api: ApiClient) -> str:
    """A fresh repository of the default (Advanced) instance."""
    ns = unique("art")
    api.create_namespace("default", ns)
    api.create_repository("default", ns, "app")
    return f"{ns}/app"


def push_index(pusher: Pusher, name: str, tag: str) -> tuple[str, dict[str, str]]:
    children = {}
    entries = []
    for os_, arch, variant in (("linux", "amd64", None), ("linux", "arm64", "v8")):
        image = pusher.image(
            name,
            f"{arch}-only",
            layers=1 if arch == "amd64" else 3,
            platform=(os_, arch),
        )
        platform = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.digest,
                "size": len(image.manifest),
                "platform": platform,
            }
        )
        children[arch] = image.digest
    index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    resp = pusher.manifest(name, tag, index, OCI_INDEX)
    assert resp.status_code == 201, resp.text
    return sha256(index), children


def test_tags_with_digest_size_media_type_and_push_time(
    api: ApiClient, pusher: Pusher, repo: str
) -> None:
    image = pusher.image(repo, "v1", layers=2)
    pusher.manifest(repo, "v1-alias", image.manifest, "application/vnd.oci.image.manifest.v1+json")
    index_digest, children = push_index(pusher, repo, "multi")
    page = api.ok(api.get(api.repo_path("default", repo) + "/tags"))
    tags = {t["name"]: t for t in page["items"]}
    assert page["total"] == 5
    assert sorted(tags) == ["amd64-only", "arm64-only", "multi", "v1", "v1-alias"]
    v1 = tags["v1"]
    assert v1["digest"] == image.digest == tags["v1-alias"]["digest"]
    assert v1["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert v1["artifactType"] == "application/vnd.oci.image.config.v1+json"
    assert v1["size"] == len(image.manifest) + len(image.config) + sum(map(len, image.layers))
    assert v1["pushedAt"].endswith("Z") and v1["platforms"] == []
    assert {t["pushedBy"] for t in tags.values()} == {"admin"}
    multi = tags["multi"]
    assert multi["digest"] == index_digest and multi["mediaType"] == OCI_INDEX
    platforms = {(p["os"], p["architecture"], p["variant"]): p for p in multi["platforms"]}
    assert set(platforms) == {("linux", "amd64", None), ("linux", "arm64", "v8")}
    assert platforms[("linux", "arm64", "v8")]["digest"] == children["arm64"]
    assert platforms[("linux", "arm64", "v8")]["size"] == tags["arm64-only"]["size"]
    paged = api.ok(
        api.get(api.repo_path("default", repo) + "/tags", params={"pageSize": 2, "page": 2})
    )
    assert [t["name"] for t in paged["items"]] == ["multi", "v1"]


def test_get_a_manifest_by_tag_or_digest(api: ApiClient, pusher: Pusher, repo: str) -> None:
    image = pusher.image(repo, "v1")
    base = api.repo_path("default", repo) + "/manifests/"
    by_tag = api.ok(api.get(base + "v1"))
    assert by_tag["digest"] == image.digest and by_tag["size"] == len(image.manifest)
    assert by_tag["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert canonical(by_tag["manifest"]) == image.manifest
    assert api.ok(api.get(base + image.digest)) == by_tag
    error(api.get(base + "nope"), 404, "NOT_FOUND")
    error(api.get(base + "sha256:" + "0" * 64), 404, "NOT_FOUND")
    error(api.get(base + "bad:digest!"), 422, "VALIDATION_FAILED")
    error(
        api.get(api.repo_path("default", unique("nons") + "/app") + "/manifests/v1"),
        404,
        "NOT_FOUND",
    )


def test_layers_with_the_history_entry_that_created_each(
    api: ApiClient, pusher: Pusher, repo: str
) -> None:
    history = [
        {"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs.tar /", "comment": "base"},
        {"created_by": "ENV A=1", "empty_layer": True},
        {"created_by": "RUN make", "author": "ci"},
        {"created_by": 'CMD ["app"]', "empty_layer": True},
    ]
    image = pusher.image(repo, "v1", layers=2, history=history)
    body = api.ok(api.get(api.repo_path("default", repo) + "/tags/v1/layers"))
    assert body["manifestDigest"] == image.digest and body["platform"] is None
    assert [(layer["digest"], layer["size"]) for layer in body["layers"]] == [
        (sha256(b), len(b)) for b in image.layers
    ]
    assert {layer["mediaType"] for layer in body["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }
    assert body["layers"][0]["history"] == {
        "created": "2024-01-01T00:00:00Z",
        "createdBy": "ADD rootfs.tar /",
        "comment": "base",
        "author": None,
    }
    assert body["layers"][1]["history"]["createdBy"] == "RUN make"
    assert body["layers"][1]["history"]["author"] == "ci"
    error(api.get(api.repo_path("default", repo) + "/tags/missing/layers"), 404, "NOT_FOUND")


def test_layers_of_an_index_need_a_platform(api: ApiClient, pusher: Pusher, repo: str) -> None:
    _, children = push_index(pusher, repo, "multi")
    path = api.repo_path("default", repo) + "/tags/multi/layers"
    body = error(api.get(path), 400, "INVALID_INPUT")
    assert "linux/amd64" in body["message"] and "linux/arm64/v8" in body["message"]
    arm = api.ok(api.get(path, params={"platform": "linux/arm64/v8"}))
    assert arm["manifestDigest"] == children["arm64"] and arm["platform"] == "linux/arm64/v8"
    assert len(arm["layers"]) == 3
    # Without the variant, the only arm64 image is meant.
    assert (
        api.ok(api.get(path, params={"platform": "linux/arm64"}))["manifestDigest"]
        == children["arm64"]
    )
    amd = api.ok(api.get(path, params={"platform": "linux/amd64"}))
    assert amd["manifestDigest"] == children["amd64"] and len(amd["layers"]) == 1
    assert amd["layers"][0]["history"]["createdBy"] == "RUN step 0"
    error(api.get(path, params={"platform": "windows/amd64"}), 404, "NOT_FOUND")
    error(api.get(path, params={"platform": "linux"}), 422, "VALIDATION_FAILED")


def test_delete_a_tag_keeps_the_manifest(api: ApiClient, pusher: Pusher, repo: str) -> None:
    image = pusher.image(repo, "v1")
    pusher.manifest(repo, "v2", image.manifest, "application/vnd.oci.image.manifest.v1+json")
    base = api.repo_path("default", repo)
    assert api.delete(base + "/tags/v1").status_code == 204
    assert [t["name"] for t in api.ok(api.get(base + "/tags"))["items"]] == ["v2"]
    assert api.ok(api.get(base + "/manifests/" + image.digest))["digest"] == image.digest
    assert api.delete(base + "/tags/v2").status_code == 204
    # No tag left, the manifest is still reachable by digest.
    assert api.ok(api.get(base + "/tags"))["total"] == 0
    assert api.ok(api.get(base + "/manifests/" + image.digest))["digest"] == image.digest
    error(api.delete(base + "/tags/v2"), 404, "NOT_FOUND")
    error(api.delete(base + "/tags/bad..tag!"), 422, "VALIDATION_FAILED")


def test_immutable_repository_refuses_tag_deletion_except_latest(
    api: ApiClient, pusher: Pusher, repo: str
) -> None:
    base = api.repo_path("default", repo)
    first = pusher.image(repo, "v1")
    pusher.image(repo, "latest")
    api.ok(api.patch(base, json={"tagMutability": "Immutable"}))
    body = error(api.delete(base + "/tags/v1"), 409, "TAG_IMMUTABLE")
    assert "immutable" in body["message"]
    error(api.delete(base + "/tags/never-pushed"), 404, "NOT_FOUND")  # missing, not immutable
    # Overwriting v1 with another image through the registry: 409 DENIED, exact message.
    other = pusher.image(repo, "v1", expect=409)
    resp = pusher.manifest(repo, "v1", other.manifest, "application/vnd.oci.image.manifest.v1+json")
    err = resp.json()["errors"][0]
    assert (resp.status_code, err["code"]) == (409, "DENIED")
    assert err["message"] == "The requested tag already exists and cannot be overwritten."
    # The identical manifest is a no-op; latest stays overwritable and deletable.
    assert (
        pusher.manifest(
            repo, "v1", first.manifest, "application/vnd.oci.image.manifest.v1+json"
        ).status_code
        == 201
    )
    pusher.image(repo, "latest")
    assert api.delete(base + "/tags/latest").status_code == 204
    tags = api.ok(api.get(base + "/tags"))["items"]
    assert [(t["name"], t["digest"]) for t in tags] == [("v1", first.digest)]
    # Back to Flexible: overwrite and delete work again.
    api.ok(api.patch(base, json={"tagMutability": "Flexible"}))
    pusher.image(repo, "v1")
    assert api.delete(base + "/tags/v1").status_code == 204
