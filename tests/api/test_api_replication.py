"""Replication through the API against real parts: a second instance of the shared
server (same account: blobs linked, no byte copied) and Debian's ``docker-registry`` as a
plain OCI destination (HTTP, htpasswd Basic auth, no referrers API: the OCI 1.1 fallback
tag). Tasks run on the server's background worker; each is read back with its layers."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    ApiClient,
    Pushed,
    Pusher,
    canonical,
    error,
    sha256,
    unique,
)
from tests.conftest import DockyardServer
from tests.e2e.clients import ReferenceRegistry
from tests.e2e.test_accel_redirect import Nginx

pytestmark = pytest.mark.e2e

ACCEPT = f"{OCI_INDEX}, {OCI_MANIFEST}"
EMPTY = b"{}"
#: How long a task may take before the test gives up on it (it is not a measurement).
TASK_DEADLINE = 120.0


def tasks_of(instance: str, full_name: str) -> str:
    namespace, repository = full_name.split("/")
    return (
        f"/instances/{instance}/namespaces/{namespace}/repositories/{repository}/replication-tasks"
    )


def replicate(api: ApiClient, full_name: str, **body: Any) -> dict[str, Any]:
    created = api.ok(api.post(tasks_of("default", full_name), json=body), 201)
    assert len(created["items"]) == 1, created
    return wait(api, created["items"][0]["id"])


def wait(api: ApiClient, task_id: str) -> dict[str, Any]:
    """The task once it is Completed, Failed or Cancelled."""
    deadline = time.monotonic() + TASK_DEADLINE
    while True:
        task: dict[str, Any] = api.ok(api.get(f"/instances/default/replication-tasks/{task_id}"))
        if task["status"] in ("Completed", "Failed", "Cancelled"):
            return task
        assert time.monotonic() < deadline, f"task still {task['status']}: {task}"
        time.sleep(0.2)


def stored_blobs(server: DockyardServer) -> list[tuple[str, int]]:
    """Every committed blob file of the server's filesystem storage, with its size."""
    root = server.data_dir / "storage" / "blobs"
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file()
    )


def statuses(task: dict[str, Any]) -> set[str]:
    return {layer["status"] for layer in task["layers"]}


class Image:
    """A two-platform index with an SBOM referrer, pushed to the default instance."""

    def __init__(self, pusher: Pusher, name: str) -> None:
        amd = pusher.image(name, "amd", platform=("linux", "amd64"))
        arm = pusher.image(name, "arm", platform=("linux", "arm64"))
        children = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": pushed.digest,
                "size": len(pushed.manifest),
                "platform": {"os": "linux", "architecture": arch},
            }
            for pushed, arch in ((amd, "amd64"), (arm, "arm64"))
        ]
        self.index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
        self.digest = sha256(self.index)
        assert pusher.manifest(name, "v1", self.index, OCI_INDEX).status_code == 201
        self.referrer = sbom_for(pusher, name, self.digest, len(self.index), OCI_INDEX)
        self.referrer_digest = sha256(self.referrer.manifest)
        self.amd, self.amd_size = amd.digest, len(amd.manifest)
        self.children = [amd.digest, arm.digest]
        self.blobs = {
            sha256(b) for pushed in (amd, arm) for b in (pushed.config, *pushed.layers)
        } | {sha256(EMPTY), sha256(self.referrer.layers[0])}


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[ReferenceRegistry]:
    with ReferenceRegistry(tmp_path / "distribution", user="repl", password="Repl-pass-1") as reg:
        yield reg


def test_same_account_replication_links_the_index_children_and_referrers(
    api: ApiClient, pusher: Pusher, registry: DockyardServer
) -> None:
    name = f"{unique('rep')}/app"
    image = Image(pusher, name)
    domain = f"{unique('replica')}.test"
    endpoints = [{"networkType": "vpc", "domain": domain}]
    target = str(api.create_instance("Advanced", endpoints=endpoints)["id"])

    stored = stored_blobs(registry)
    assert len(stored) >= len(image.blobs)
    task = replicate(api, name, tag="v1", to=target)
    assert task["status"] == "Completed", task
    assert stored_blobs(registry) == stored  # no byte copied in the shared storage
    assert (task["sourceDigest"], task["destinationKind"]) == (image.digest, "instance")
    assert {layer["digest"] for layer in task["layers"]} == image.blobs
    assert statuses(task) == {"copied"}
    assert task["bytesSent"] == 0  # linked in the shared storage, not sent

    replica = Pusher(registry, host=domain)
    try:
        got = replica.http.get(f"/v2/{name}/manifests/v1", headers={"Accept": ACCEPT})
        assert got.status_code == 200, got.text
        assert got.headers["docker-content-digest"] == image.digest
        assert got.content == image.index
        referrers = replica.http.get(f"/v2/{name}/referrers/{image.digest}").json()
        assert [m["digest"] for m in referrers["manifests"]] == [image.referrer_digest]
    finally:
        replica.close()

    again = replicate(api, name, tag="v1", to=target)
    assert again["status"] == "Completed", again
    assert statuses(again) == {"already present"}

    # Overwrite off: the destination tag holds another image and is left alone.
    kept = replicate(api, name, tag="amd", to=target, destinationTag="v1")
    assert kept["status"] == "Failed"
    assert "overwrite is off" in kept["reason"]
    assert kept["layers"] == []
    moved = replicate(api, name, tag="amd", to=target, destinationTag="v1", overwrite=True)
    assert moved["status"] == "Completed", moved
    assert moved["sourceDigest"] == image.amd

    # An immutable destination refuses the overwrite with its usual message.
    api.create_repository(target, name.split("/")[0], "frozen", tagMutability="Immutable")
    first = replicate(api, name, tag="amd", to=target, destinationRepository="frozen")
    assert first["status"] == "Completed", first
    refused = replicate(
        api,
        name,
        tag="arm",
        to=target,
        destinationRepository="frozen",
        destinationTag="amd",
        overwrite=True,
    )
    assert refused["status"] == "Failed"
    assert refused["reason"].startswith("destination immutable: ")
    assert "cannot be overwritten" in refused["reason"]

    listed = api.ok(api.get("/instances/default/replication-tasks", params={"repository": name}))
    assert listed["total"] == 6
    failed = api.ok(
        api.get(
            "/instances/default/replication-tasks", params={"repository": name, "status": "Failed"}
        )
    )
    assert {t["id"] for t in failed["items"]} == {kept["id"], refused["id"]}
    audit = api.ok(api.get("/audit-events", params={"action": "cr:CreateRepoSyncTask"}))
    assert any(target == e.get("detail", {}).get("to") for e in audit["items"]), audit


def test_replication_to_distribution_with_the_fallback_referrers_tag(
    api: ApiClient, pusher: Pusher, reference: ReferenceRegistry
) -> None:
    name = f"{unique('rep')}/app"
    image = Image(pusher, name)
    remote = unique("dist")
    body = {
        "name": remote,
        "url": f"http://{reference.host}",
        "username": "repl",
        "secret": "Repl-pass-1",
    }
    created = api.ok(api.post("/instances/default/replication-remotes", json=body), 201)
    assert "secret" not in created and created["username"] == "repl"
    listed = api.ok(api.get("/instances/default/replication-remotes"))
    assert all("secret" not in item for item in listed["items"])
    error(api.post("/instances/default/replication-remotes", json=body), 409, "ALREADY_EXISTS")

    task = replicate(api, name, tag="v1", to=remote)
    assert task["status"] == "Completed", task
    assert statuses(task) == {"copied"}
    assert task["bytesSent"] == sum(layer["size"] for layer in task["layers"])

    with httpx.Client(base_url=f"http://{reference.host}", auth=reference.creds) as dist:
        got = dist.get(f"/v2/{name}/manifests/v1", headers={"Accept": ACCEPT})
        assert got.status_code == 200, got.text
        assert got.headers["docker-content-digest"] == image.digest
        for child in image.children:
            found = dist.head(f"/v2/{name}/manifests/{child}", headers={"Accept": ACCEPT})
            assert found.status_code == 200
        assert dist.head(f"/v2/{name}/manifests/amd").status_code == 404  # tags are not copied
        fallback = image.digest.replace(":", "-")
        index = dist.get(f"/v2/{name}/manifests/{fallback}", headers={"Accept": OCI_INDEX})
        assert index.status_code == 200, index.text
        assert [m["digest"] for m in index.json()["manifests"]] == [image.referrer_digest]
        referrer = dist.get(
            f"/v2/{name}/manifests/{image.referrer_digest}", headers={"Accept": ACCEPT}
        )
        assert referrer.content == image.referrer.manifest

    again = replicate(api, name, tag="v1", to=remote)
    assert again["status"] == "Completed", again
    assert statuses(again) == {"already present"}
    assert again["bytesSent"] == 0

    # Another repository there: every blob is mounted from the first one, none sent.
    mirror = replicate(api, name, tag="v1", to=remote, destinationRepository="mirror")
    assert mirror["status"] == "Completed", mirror
    assert statuses(mirror) == {"copied"}
    assert mirror["bytesSent"] == 0
    with httpx.Client(base_url=f"http://{reference.host}", auth=reference.creds) as dist:
        got = dist.get(f"/v2/{name.split('/')[0]}/mirror/manifests/v1", headers={"Accept": ACCEPT})
        assert got.headers["docker-content-digest"] == image.digest

    wrong = {**body, "name": unique("wrong"), "secret": "not-the-password"}
    api.ok(api.post("/instances/default/replication-remotes", json=wrong), 201)
    refused = replicate(api, name, tag="v1", to=wrong["name"])
    assert refused["status"] == "Failed"
    assert refused["reason"].startswith("authentication refused")
    assert refused["layers"] == []  # refused before anything was written
    api.ok(api.delete(f"/instances/default/replication-remotes/{wrong['name']}"), 204)
    error(
        api.post(tasks_of("default", name), json={"tag": "v1", "to": wrong["name"]}),
        404,
        "NOT_FOUND",
    )


def test_remotes_need_the_advanced_edition_and_tag_regex_makes_a_task_per_tag(
    api: ApiClient, standard: str, registry: DockyardServer
) -> None:
    body = {"name": "r", "url": "https://registry.example", "username": "u", "secret": "s"}
    error(
        api.post(f"/instances/{standard}/replication-remotes", json=body),
        403,
        "EDITION_REQUIRED",
    )
    std_pusher = Pusher(registry)
    name = f"{unique('rep')}/app"
    try:
        for tag in ("release-1", "release-2", "dev"):
            std_pusher.image(name, tag)
    finally:
        std_pusher.close()
    target = str(api.create_instance("Standard")["id"])
    created = api.ok(
        api.post(tasks_of("default", name), json={"tags": "release-.*", "to": target}), 201
    )
    assert sorted(t["sourceTag"] for t in created["items"]) == ["release-1", "release-2"]
    for item in created["items"]:
        assert wait(api, item["id"])["status"] == "Completed"
    error(
        api.post(tasks_of("default", name), json={"tags": "nope-.*", "to": target}),
        404,
        "NOT_FOUND",
    )
    error(
        api.post(tasks_of("default", name), json={"tag": "dev", "to": "default"}),
        400,
        "INVALID_INPUT",
    )


def test_a_destination_down_fails_with_its_reason_and_a_retry_sends_only_what_is_missing(
    api: ApiClient, pusher: Pusher, reference: ReferenceRegistry
) -> None:
    name = f"{unique('rep')}/app"
    image = Image(pusher, name)
    remote = unique("down")
    body = {
        "name": remote,
        "url": f"http://{reference.host}",
        "username": "repl",
        "secret": "Repl-pass-1",
    }
    api.ok(api.post("/instances/default/replication-remotes", json=body), 201)
    first = replicate(api, name, tag="amd", to=remote)
    assert first["status"] == "Completed", first
    reference.stop()

    created = api.ok(api.post(tasks_of("default", name), json={"tag": "v1", "to": remote}), 201)
    task_id = created["items"][0]["id"]
    cancelled = api.ok(api.post(f"/instances/default/replication-tasks/{task_id}/cancel"))
    assert cancelled["status"] == "Cancelled"
    assert wait(api, task_id)["status"] == "Cancelled"
    error(api.post(f"/instances/default/replication-tasks/{task_id}/cancel"), 409, "CONFLICT")

    api.ok(api.post(f"/instances/default/replication-tasks/{task_id}/retry"))
    down = wait(api, task_id)  # after its attempts, spaced by the queue's backoff
    assert down["status"] == "Failed"
    assert down["reason"].startswith("destination unreachable: ")
    assert down["finishedAt"] is not None

    reference.start()
    api.ok(api.post(f"/instances/default/replication-tasks/{task_id}/retry"))
    done = wait(api, task_id)
    assert done["status"] == "Completed", done
    by_status: dict[str, set[str]] = {}
    for layer in done["layers"]:
        by_status.setdefault(layer["status"], set()).add(layer["digest"])
    amd_blobs = {layer["digest"] for layer in first["layers"]}
    assert by_status["already present"] == amd_blobs
    assert by_status["copied"] == image.blobs - amd_blobs
    error(api.post(f"/instances/default/replication-tasks/{task_id}/retry"), 409, "CONFLICT")
    unknown = "/instances/default/replication-tasks/00000000-0000-4000-8000-000000000001"
    error(api.get(unknown), 404, "NOT_FOUND")


def sbom_for(
    pusher: Pusher, name: str, subject: str, size: int, media_type: str = OCI_MANIFEST
) -> Pushed:
    """Push an SBOM whose subject is the manifest ``subject``."""
    sbom = b'{"sbom": "' + subject.encode() + b'"}'
    for blob in (EMPTY, sbom):
        assert pusher.blob(name, blob).status_code == 201
    body = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom+json",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha256(EMPTY),
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/json", "digest": sha256(sbom), "size": len(sbom)}
            ],
            "subject": {"mediaType": media_type, "digest": subject, "size": size},
        }
    )
    assert pusher.manifest(name, sha256(body), body, OCI_MANIFEST).status_code == 201
    return Pushed(sha256(body), body, EMPTY, [sbom])


def rule_tasks(api: ApiClient, instance: str, name: str) -> list[dict[str, Any]]:
    listed = api.ok(
        api.get(f"/instances/{instance}/replication-tasks", params={"repository": name})
    )
    return list(listed["items"])


def settled(api: ApiClient, instance: str, name: str, count: int) -> list[dict[str, Any]]:
    """The repository's tasks in ``instance`` once there are ``count`` and all are final."""
    deadline = time.monotonic() + TASK_DEADLINE
    while True:
        tasks = rule_tasks(api, instance, name)
        final = [t for t in tasks if t["status"] in ("Completed", "Failed", "Cancelled")]
        if len(final) >= count:
            return tasks
        assert time.monotonic() < deadline, f"{len(final)} of {count} tasks settled: {tasks}"
        time.sleep(0.2)


def test_rules_both_ways_replicate_matching_pushes_once_without_a_loop(
    api: ApiClient, registry: DockyardServer
) -> None:
    namespace = unique("rule")
    name = f"{namespace}/app"
    domain = f"{unique('ruled')}.test"
    endpoints = [{"networkType": "vpc", "domain": domain}]
    other = str(api.create_instance("Advanced", endpoints=endpoints)["id"])
    there = {"name": unique("ab"), "to": other, "level": "namespace", "source": namespace,
             "tags": "release-.*"}  # fmt: skip
    back = {"name": unique("ba"), "to": "default", "level": "repository", "source": name,
            "tags": ".*"}  # fmt: skip
    created = api.ok(api.post("/instances/default/replication-rules", json=there), 201)
    assert (created["enabled"], created["destinationKind"]) == (True, "instance")
    api.ok(api.post(f"/instances/{other}/replication-rules", json=back), 201)
    error(api.post("/instances/default/replication-rules", json=there), 409, "ALREADY_EXISTS")

    here, replica = Pusher(registry), Pusher(registry, host=domain)
    try:
        skipped = here.image(name, "dev-1")
        pushed = here.image(name, "release-1")
        [task] = settled(api, "default", name, 1)
        assert (task["rule"], task["sourceTag"], task["status"]) == (
            there["name"],
            "release-1",
            "Completed",
        )
        got = replica.http.get(f"/v2/{name}/manifests/release-1", headers={"Accept": ACCEPT})
        assert got.headers["docker-content-digest"] == pushed.digest
        missing = replica.http.get(f"/v2/{name}/manifests/dev-1", headers={"Accept": ACCEPT})
        assert missing.status_code == 404
        assert skipped.digest not in got.text

        # A push made at the other instance goes back by its rule; the replicated one did
        # not (the other instance's events of one repository are handled in order).
        own = replica.image(name, "local-1")
        [back_task] = settled(api, other, name, 1)
        assert (back_task["sourceTag"], back_task["status"]) == ("local-1", "Completed")
        arrived = here.http.get(f"/v2/{name}/manifests/local-1", headers={"Accept": ACCEPT})
        assert arrived.headers["docker-content-digest"] == own.digest
        # Back home, that push matches no rule of the default instance: one task still.
        assert len(rule_tasks(api, "default", name)) == 1

        # An SBOM pushed later for release-1 follows it: the tag is replicated again.
        sbom = sbom_for(here, name, pushed.digest, len(pushed.manifest)).digest
        tasks = settled(api, "default", name, 2)
        assert [(t["sourceTag"], t["rule"], t["status"]) for t in tasks] == [
            ("release-1", there["name"], "Completed")
        ] * 2
        listed = replica.http.get(f"/v2/{name}/referrers/{pushed.digest}").json()
        assert [m["digest"] for m in listed["manifests"]] == [sbom]

        disabled = api.ok(
            api.patch(
                f"/instances/default/replication-rules/{there['name']}", json={"enabled": False}
            )
        )
        assert disabled["enabled"] is False
        probe = {"name": unique("probe"), "to": other, "level": "repository", "source": name,
                 "tags": "probe-.*"}  # fmt: skip
        api.ok(api.post("/instances/default/replication-rules", json=probe), 201)
        here.image(name, "release-2")
        here.image(name, "probe-1")  # a later event of the same repository, to wait on
        tags = sorted(t["sourceTag"] for t in settled(api, "default", name, 3))
        assert tags == ["probe-1", "release-1", "release-1"]  # release-2: its rule is disabled
    finally:
        here.close()
        replica.close()
    api.ok(api.delete(f"/instances/default/replication-rules/{there['name']}"), 204)
    error(api.delete(f"/instances/default/replication-rules/{there['name']}"), 404, "NOT_FOUND")
    # Its rules and tasks go with an instance.
    api.ok(api.delete(f"/instances/{other}", params={"force": "true"}), 204)
    error(api.get(f"/instances/{other}/replication-rules"), 404, "NOT_FOUND")


def test_rules_need_the_advanced_edition(api: ApiClient, standard: str) -> None:
    rule = {"name": "r", "to": "default", "level": "namespace", "source": "ns"}
    error(api.post(f"/instances/{standard}/replication-rules", json=rule), 403, "EDITION_REQUIRED")


def test_a_quota_at_the_destination_fails_the_task_with_its_reason(
    api: ApiClient, pusher: Pusher, registry: DockyardServer
) -> None:
    """A namespace quota refuses the replicated image, at another instance (linked blobs
    count against it) and at a remote Dockyard (its 403 names the quota): both named."""
    name = f"{unique('rep')}/app"
    pusher.image(name, "v1")
    full = unique("full")
    target = str(api.create_instance("Advanced")["id"])
    for instance in (target, "default"):
        api.create_namespace(instance, full)
        quota = {"quota": 1}
        api.ok(api.request("PUT", f"/instances/{instance}/namespaces/{full}/quota", json=quota))
    remote = unique("self")
    body = {"name": remote, "url": registry.url, "username": registry.admin_user,
            "secret": registry.admin_password}  # fmt: skip
    api.ok(api.post("/instances/default/replication-remotes", json=body), 201)
    for to in (target, remote):
        refused = replicate(api, name, tag="v1", to=to, namespace=full)
        assert refused["status"] == "Failed", refused
        assert refused["reason"].startswith("quota or limit at the destination: "), refused
        assert "storage quota exceeded" in refused["reason"]
        tags = api.get(f"/instances/{'default' if to == remote else target}/namespaces/"
                       f"{full}/repositories/app/tags")  # fmt: skip
        assert tags.status_code == 404 or tags.json()["total"] == 0, tags.text


def test_a_referrer_of_an_index_child_follows_the_index_tag_under_a_rule(
    api: ApiClient, pusher: Pusher, registry: DockyardServer
) -> None:
    """A signature pushed later for one platform's image (no tag the rule takes points to
    it) replicates the index's tag again, which carries it over."""
    name = f"{unique('rule')}/app"
    domain = f"{unique('child')}.test"
    endpoints = [{"networkType": "vpc", "domain": domain}]
    other = str(api.create_instance("Advanced", endpoints=endpoints)["id"])
    rule = {"name": unique("idx"), "to": other, "level": "repository", "source": name,
            "tags": "v1"}  # fmt: skip
    api.ok(api.post("/instances/default/replication-rules", json=rule), 201)
    image = Image(pusher, name)  # the index tagged v1 and its SBOM; children amd, arm
    assert [t["sourceTag"] for t in settled(api, "default", name, 2)] == ["v1", "v1"]

    signature = sbom_for(pusher, name, image.amd, image.amd_size).digest
    tasks = settled(api, "default", name, 3)
    assert [(t["sourceTag"], t["status"]) for t in tasks] == [("v1", "Completed")] * 3
    replica = Pusher(registry, host=domain)
    try:
        listed = replica.http.get(f"/v2/{name}/referrers/{image.amd}").json()
        assert [m["digest"] for m in listed["manifests"]] == [signature]
    finally:
        replica.close()


#: nginx before ``docker-registry`` refusing request bodies beyond 5 MiB (413), as proxies
#: with a body limit do; ``{listen}`` is filled in by ``Nginx``.
BODY_LIMIT_FRONT = """\
server {{
    listen {listen};
    client_max_body_size 5m;
    location / {{
        proxy_pass http://UPSTREAM;
        proxy_set_header Host $http_host;
        proxy_request_buffering off;
        proxy_http_version 1.1;
    }}
}}
"""


def test_a_remote_that_refuses_a_large_blob_whole_gets_it_in_chunks(
    api: ApiClient, pusher: Pusher, reference: ReferenceRegistry, tmp_path: Path
) -> None:
    front = BODY_LIMIT_FRONT.replace("UPSTREAM", reference.host)
    proxy = Nginx(tmp_path / "nginx", None, front=front)
    try:
        name = f"{unique('rep')}/big"
        layer = os.urandom(9 * 1024 * 1024)  # sent as chunks of 4, 4 and 1 MiB
        config = canonical({"os": "linux", "architecture": "amd64"})
        for blob in (layer, config):
            assert pusher.blob(name, blob).status_code == 201
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
            }
        )
        assert pusher.manifest(name, "v1", manifest, OCI_MANIFEST).status_code == 201
        remote = unique("limited")
        body = {"name": remote, "url": proxy.url, "username": "repl", "secret": "Repl-pass-1"}
        api.ok(api.post("/instances/default/replication-remotes", json=body), 201)
        task = replicate(api, name, tag="v1", to=remote)
        assert task["status"] == "Completed", task
        assert task["bytesSent"] == len(layer) + len(config)

        with httpx.Client(
            base_url=f"http://{reference.host}", auth=("repl", "Repl-pass-1")
        ) as there:
            got = there.get(f"/v2/{name}/blobs/{sha256(layer)}")
            assert got.status_code == 200 and got.content == layer
            tag = there.head(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert tag.headers["docker-content-digest"] == sha256(manifest)
        uploads = [
            line.split()[0] + " " + line.split()[-2]
            for line in proxy.access_log.read_text().splitlines()
            if "/blobs/uploads/" in line and not line.startswith("POST")
        ]
        whole, chunked = ["PUT status=201"], ["PATCH status=202"] * 3 + ["PUT status=201"]
        assert uploads == [*whole, "PUT status=413", *chunked], uploads  # config, then layer
    finally:
        proxy.stop()
