"""Issue 4's "done when": a newcomer's first session, through the API and through the CLI.

Create an instance with an allowlisted endpoint, a namespace and a repository; push with
a real client (skopeo); list tags and layers; make the repository immutable and see the
exact refusal. The endpoint's domain is ``localhost`` (so skopeo resolves it without
touching /etc/hosts) and its allowlist admits loopback, where skopeo runs; the server's
default instance keeps answering on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import DockyardServer, ServerFactory
from tests.dockyard_cli import Cli
from tests.e2e import clients as C

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

MESSAGE = "The requested tag already exists and cannot be overwritten."
DOMAIN = "localhost"
ALLOW = "127.0.0.0/8"


@pytest.fixture
def server(fresh_registry: ServerFactory) -> DockyardServer:
    return fresh_registry(workers=2)


@pytest.fixture
def images(tmp_path: Path) -> tuple[C.LayoutInfo, C.LayoutInfo]:
    return (
        C.make_oci_layout(tmp_path / "one", tag="v1", layers=2),
        C.make_oci_layout(tmp_path / "two", tag="v1", layers=2),
    )


@pytest.fixture
def skopeo(tmp_path: Path) -> C.Skopeo:
    return C.Skopeo(tmp_path / "skopeo")


@pytest.fixture
def api(server: DockyardServer) -> Iterator[httpx.Client]:
    resp = httpx.post(
        f"{server.url}/api/v1/auth/signin",
        json={"username": server.admin_user, "password": server.admin_password},
    )
    assert resp.status_code == 200, resp.text
    headers = {"Authorization": f"Bearer {resp.json()['token']}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=60) as client:
        yield client


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def push_and_refuse(
    server: DockyardServer,
    skopeo: C.Skopeo,
    images: tuple[C.LayoutInfo, C.LayoutInfo],
    name: str,
    make_immutable: Any,
) -> None:
    first, second = images
    ref = f"docker://{DOMAIN}:{server.port}/{name}"
    assert skopeo.copy(first.oci_ref, f"{ref}:v1", dest_creds=server.admin) == first.digest
    make_immutable()
    with pytest.raises(C.ClientError) as refused:
        skopeo.copy(second.oci_ref, f"{ref}:v1", dest_creds=server.admin)
    assert MESSAGE in refused.value.stderr + refused.value.stdout
    # The tag still names the first image.
    assert skopeo.inspect(f"{ref}:v1", creds=server.admin)["Digest"] == first.digest


def test_newcomer_journey_through_the_api(
    server: DockyardServer,
    api: httpx.Client,
    skopeo: C.Skopeo,
    images: tuple[C.LayoutInfo, C.LayoutInfo],
) -> None:
    endpoint = {"networkType": "vpc", "domain": DOMAIN, "allowlist": [{"cidr": ALLOW}]}
    body = {"name": "first", "region": "local", "edition": "Advanced", "endpoints": [endpoint]}
    instance = ok(api.post("/instances", json=body), 201)
    iid = instance["id"]
    assert instance["endpoints"][0]["allowlist"][0]["cidr"] == ALLOW
    ok(api.post(f"/instances/{iid}/namespaces", json={"name": "team"}), 201)
    repo = ok(
        api.post(
            f"/instances/{iid}/namespaces/team/repositories",
            json={"name": "app", "summary": "the newcomer's app"},
        ),
        201,
    )
    assert repo["tagMutability"] == "Flexible"
    path = f"/instances/{iid}/namespaces/team/repositories/app"

    def make_immutable() -> None:
        tags = ok(api.get(f"{path}/tags"))["items"]
        assert [(t["name"], t["digest"]) for t in tags] == [("v1", images[0].digest)]
        layers = ok(api.get(f"{path}/tags/v1/layers"))
        assert layers["manifestDigest"] == images[0].digest
        assert [layer["digest"] for layer in layers["layers"]] == [
            b.digest for b in images[0].images[0].layers
        ]
        updated = ok(api.patch(path, json={"tagMutability": "Immutable"}))
        assert updated["tagMutability"] == "Immutable"

    push_and_refuse(server, skopeo, images, "team/app", make_immutable)
    # The push landed in the new instance, not in the default one.
    assert ok(api.get("/instances/default/repositories"))["total"] == 0


def test_newcomer_journey_through_the_cli(
    server: DockyardServer,
    skopeo: C.Skopeo,
    images: tuple[C.LayoutInfo, C.LayoutInfo],
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "home")
    cli.login(server.url, *server.admin)
    instance = cli.json(
        "instance",
        "create",
        "first",
        "--edition",
        "Advanced",
        "--endpoint",
        f"vpc={DOMAIN}",
        "--allow",
        f"vpc={ALLOW}",
    )
    iid = instance["id"]
    assert instance["endpoints"] == [
        {
            "networkType": "vpc",
            "domain": DOMAIN,
            "enabled": True,
            "allowlist": [{"cidr": ALLOW, "description": ""}],
        }
    ]
    assert cli.json("namespace", "create", "team", "--instance", iid)["name"] == "team"
    repo = cli.json("repo", "create", "team/app", "--instance", iid, "--summary", "my app")
    assert repo["fullName"] == "team/app" and repo["tagMutability"] == "Flexible"

    def make_immutable() -> None:
        tags = cli.json("tag", "list", "team/app", "--instance", iid)
        assert [(t["name"], t["digest"]) for t in tags] == [("v1", images[0].digest)]
        table = cli.run("tag", "list", "team/app", "--instance", iid).stdout
        assert "v1" in table and images[0].digest[:19] in table
        layers = cli.json("tag", "layers", "team/app:v1", "--instance", iid)
        assert [layer["digest"] for layer in layers["layers"]] == [
            b.digest for b in images[0].images[0].layers
        ]
        updated = cli.json("repo", "update", "team/app", "--immutable", "--instance", iid)
        assert updated["tagMutability"] == "Immutable"

    push_and_refuse(server, skopeo, images, "team/app", make_immutable)
    # The CLI's own refusal for an immutable tag: exit 1, the API's message on stderr.
    refused = cli.run("tag", "delete", "team/app:v1", "--instance", iid, expect=1)
    assert "immutable" in refused.stderr
