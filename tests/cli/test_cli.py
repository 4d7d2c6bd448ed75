"""The installed ``dockyard`` command against a running server, as a subprocess.

Every call is ``python -m dockyard …`` with ``HOME``/``XDG_CONFIG_HOME`` in a temporary
directory (``tests/dockyard_cli.py``): login (the credentials file is 0600 in a 0700
directory), every command family with ``--json`` parsed and tables read, error exits with
the API's message on stderr, and logout.
"""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import OCI_MANIFEST, Pusher
from tests.conftest import DockyardServer
from tests.dockyard_cli import Cli

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def cli(registry: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Logged in to the shared server as the administrator."""
    client = Cli(tmp_path_factory.mktemp("cli-home"))
    result = client.login(registry.url, *registry.admin)
    assert f"Logged in to {registry.url} as admin" in result.stdout
    return client


@pytest.fixture(scope="module")
def instance(cli: Cli) -> dict[str, Any]:
    """An Advanced instance of its own, answering on a made-up domain."""
    domain = f"{unique('cli')}.test"
    created: dict[str, Any] = cli.json(
        "instance",
        "create",
        "cli-tests",
        "--edition",
        "Advanced",
        "--region",
        "local",
        "--endpoint",
        f"vpc={domain}",
        "--allow",
        "vpc=127.0.0.0/8",
    )
    return created


@pytest.fixture
def admin_http(registry: DockyardServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=registry.admin, timeout=60) as client:
        yield client


def test_login_stores_a_private_credential(registry: DockyardServer, cli: Cli) -> None:
    path = cli.credentials
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["default"] == registry.url
    entry = stored["servers"][registry.url]
    assert entry["username"] == "admin" and entry["token"] and entry["expiresAt"]
    assert registry.admin_password not in path.read_text()


def test_login_refused_shows_the_api_message(registry: DockyardServer, tmp_path: Path) -> None:
    fresh = Cli(tmp_path / "home")
    result = fresh.run(
        "login",
        registry.url,
        "-u",
        "admin",
        "--password-stdin",
        input="wrong-password\n",
        expect=1,
    )
    assert result.stderr.startswith("error: ")
    assert not fresh.credentials.exists()
    # Nothing stored: resource commands say how to log in.
    result = fresh.run("namespace", "list", expect=1)
    assert "dockyard login" in result.stderr


def test_instances(cli: Cli, instance: dict[str, Any]) -> None:
    iid = instance["id"]
    assert iid.startswith("cri-") and instance["edition"] == "Advanced"
    assert instance["endpoints"][0]["allowlist"] == [{"cidr": "127.0.0.0/8", "description": ""}]
    listed = cli.json("instance", "list")
    assert {"default", iid} <= {i["id"] for i in listed}
    got = cli.json("instance", "get", iid)
    assert got["name"] == "cli-tests"
    # --allow adds to the existing allowlist (read, modify, write with If-Match).
    updated = cli.json("instance", "update", iid, "--allow", "vpc=10.20.0.0/16", "--name", "cli2")
    assert updated["name"] == "cli2"
    assert {a["cidr"] for a in updated["endpoints"][0]["allowlist"]} == {
        "127.0.0.0/8",
        "10.20.0.0/16",
    }
    table = cli.run("instance", "get", iid).stdout
    assert "cli2" in table and "10.20.0.0/16" in table and "Allowlist" in table
    # The API's refusal, verbatim, with exit 1.
    bad = cli.run("instance", "update", iid, "--allow", "vpc=not-a-cidr", expect=1)
    assert bad.stderr.startswith("error: ") and "not-a-cidr" in bad.stderr
    missing = cli.run("instance", "get", "cri-doesnotexist", expect=1)
    assert "cri-doesnotexist" in missing.stderr
    # Usage errors exit 2.
    cli.run("instance", "update", iid, "--allow", "moon=10.0.0.0/8", expect=2)
    # The edition's limits beside their use.
    limits = cli.json("instance", "limits", iid)
    assert limits["edition"] == "Advanced"
    assert {r["name"]: r["limit"] for r in limits["limits"]}[
        "repositories in one namespace"
    ] is None
    table = cli.run("instance", "limits", iid).stdout
    assert "Advanced edition" in table and "no limit" in table and "namespaces" in table


def test_instance_delete(cli: Cli) -> None:
    iid = cli.json("instance", "create", "short-lived", "--region", "local")["id"]
    cli.json("namespace", "create", unique("ns"), "-i", iid)
    not_empty = cli.run("instance", "delete", iid, expect=1)
    assert not_empty.stderr.startswith("error: ") and "namespaces" in not_empty.stderr
    cli.json("instance", "get", iid)
    assert cli.run("instance", "delete", iid, "--force").stdout.strip() == (
        f"Deleted instance {iid}."
    )
    cli.run("instance", "get", iid, expect=1)
    missing = cli.run("instance", "delete", iid, "--json", expect=1)
    assert iid in missing.stderr
    empty = cli.json("instance", "create", "empty", "--region", "local")["id"]
    assert cli.json("instance", "delete", empty) == {"deleted": empty}
    refused = cli.run("instance", "delete", "default", "--force", expect=1)
    assert "default instance cannot be deleted" in refused.stderr


def test_namespaces(cli: Cli, instance: dict[str, Any]) -> None:
    iid = instance["id"]
    ns = unique("ns")
    created = cli.json("namespace", "create", ns, "-i", iid, "--default-type", "public")
    assert created["name"] == ns and created["defaultRepositoryType"] == "public"
    assert created["autoCreate"] is True
    assert cli.json("namespace", "get", ns, "-i", iid)["repositoryCount"] == 0
    assert ns in {n["name"] for n in cli.json("namespace", "list", "-i", iid)}
    updated = cli.json("namespace", "update", ns, "--no-auto-create", "-i", iid)
    assert updated["autoCreate"] is False
    table = cli.run("namespaces", "list", "-i", iid).stdout  # plural alias
    assert ns in table
    again = cli.run("namespace", "create", ns, "-i", iid, expect=1)
    assert ns in again.stderr and "exist" in again.stderr
    cli.run("namespace", "create", "Bad Name!", "-i", iid, expect=1)

    cli.json("repo", "create", f"{ns}/app", "-i", iid)
    not_empty = cli.run("namespace", "delete", ns, "-i", iid, expect=1)
    assert "repositor" in not_empty.stderr
    assert cli.json("namespace", "delete", ns, "-i", iid, "--force") == {"deleted": ns}
    cli.run("namespace", "get", ns, "-i", iid, expect=1)


def test_creation_fields(cli: Cli, instance: dict[str, Any]) -> None:
    iid = instance["id"]
    org_name = unique("org")
    org = cli.json("org", "create", org_name)["id"]
    rs = unique("set")
    cli.json("resource-set", "create", rs)
    ns = unique("ns")
    placed = ("--organization", org_name, "--resource-set", rs, "--region", "local")
    created = cli.json("namespace", "create", ns, "-i", iid, *placed)
    assert (created["organizationId"], created["resourceSet"], created["region"]) == (
        org,
        rs,
        "local",
    )
    record = cli.run("namespace", "get", ns, "-i", iid).stdout
    assert org in record and rs in record and "Region" in record
    assert rs in cli.run("namespace", "list", "-i", iid).stdout

    rs2 = unique("set")
    cli.json("resource-set", "create", rs2)
    repo = cli.json("repo", "create", f"{ns}/app", "-i", iid, "--resource-set", rs2)
    assert (repo["organizationId"], repo["resourceSet"], repo["region"]) == (org, rs2, "local")
    assert rs2 in cli.run("repo", "get", f"{ns}/app", "-i", iid).stdout
    assert rs2 in cli.run("repo", "list", ns, "-i", iid).stdout
    members = cli.json("resource-set", "get", rs2)["repositories"]
    assert [m["fullName"] for m in members] == [f"{ns}/app"]

    refused = cli.run("namespace", "create", unique("ns"), "-i", iid, "--region", "mars", expect=1)
    assert "region" in refused.stderr
    refused = cli.run(
        "repo", "create", f"{ns}/other", "-i", iid, "--resource-set", "nope", expect=1
    )
    assert "resourceSet" in refused.stderr
    cli.run("repo", "get", f"{ns}/other", "-i", iid, expect=1)


def test_repositories_across_pages(
    cli: Cli, instance: dict[str, Any], admin_http: httpx.Client
) -> None:
    iid = instance["id"]
    ns = unique("rp")
    cli.json("namespace", "create", ns, "-i", iid)
    repo = cli.json(
        "repo", "create", f"{ns}/app", "-i", iid, "--summary", "hello", "--type", "public"
    )
    assert repo["fullName"] == f"{ns}/app" and repo["type"] == "public"
    assert repo["summary"] == "hello" and repo["tagMutability"] == "Flexible"
    got = cli.json("repo", "get", f"{ns}/app", "-i", iid)
    assert got["id"] == repo["id"]
    updated = cli.json(
        "repo", "update", f"{ns}/app", "-i", iid, "--immutable", "--description", "long text"
    )
    assert updated["tagMutability"] == "Immutable" and updated["description"] == "long text"
    assert cli.json("repo", "update", f"{ns}/app", "-i", iid, "--mutable")["tagMutability"] == (
        "Flexible"
    )

    # More than one page (100): the CLI follows every page.
    for i in range(104):
        resp = admin_http.post(
            f"/instances/{iid}/namespaces/{ns}/repositories", json={"name": f"r{i:03d}"}
        )
        assert resp.status_code == 201, resp.text
    listed = cli.json("repo", "list", ns, "-i", iid)
    assert len(listed) == 105 and len({r["id"] for r in listed}) == 105
    one_page = cli.json("repo", "list", ns, "-i", iid, "--page", "2", "--page-size", "50")
    assert len(one_page) == 50
    searched = cli.json("repo", "list", "-i", iid, "--name", "r10")
    assert sorted(r["name"] for r in searched) == ["r100", "r101", "r102", "r103"]
    table = cli.run("repo", "list", ns, "-i", iid, "--name", "app").stdout
    assert f"{ns}/app" in table

    assert cli.json("repo", "delete", f"{ns}/r000", "-i", iid) == {"deleted": f"{ns}/r000"}
    gone = cli.run("repo", "get", f"{ns}/r000", "-i", iid, expect=1)
    assert "r000" in gone.stderr
    # Names that are not NAMESPACE/REPOSITORY are usage errors.
    cli.run("repo", "get", "just-a-name", "-i", iid, expect=2)


def test_tags_layers_and_manifests(
    registry: DockyardServer, cli: Cli, instance: dict[str, Any]
) -> None:
    iid = instance["id"]
    ns = unique("tg")
    cli.json("namespace", "create", ns, "-i", iid)
    cli.json("repo", "create", f"{ns}/app", "-i", iid)
    pusher = Pusher(registry, host=instance["endpoints"][0]["domain"])
    try:
        history = [{"created_by": "ADD rootfs /"}, {"created_by": "RUN make install"}]
        v1 = pusher.image(f"{ns}/app", "v1", layers=2, history=history)
        pusher.manifest(f"{ns}/app", "v2", v1.manifest, OCI_MANIFEST)
        for tag in ("a", "b", "c", "latest"):
            pusher.image(f"{ns}/app", tag, layers=1)
    finally:
        pusher.close()

    tags = {t["name"]: t for t in cli.json("tag", "list", f"{ns}/app", "-i", iid)}
    assert set(tags) == {"v1", "v2", "a", "b", "c", "latest"}
    assert tags["v1"]["digest"] == tags["v2"]["digest"] == v1.digest
    assert tags["v1"]["size"] == len(v1.manifest) + len(v1.config) + sum(map(len, v1.layers))
    table = cli.run("tag", "list", f"{ns}/app", "-i", iid).stdout
    assert "v1" in table and v1.digest[:19] in table and "Pushed by" in table
    assert {t["pushedBy"] for t in tags.values()} == {"admin"}

    layers = cli.json("tag", "layers", f"{ns}/app:v1", "-i", iid)
    assert layers["manifestDigest"] == v1.digest
    assert [la["size"] for la in layers["layers"]] == [len(b) for b in v1.layers]
    assert [la["history"]["createdBy"] for la in layers["layers"]] == [
        "ADD rootfs /",
        "RUN make install",
    ]
    table = cli.run("tag", "layers", f"{ns}/app:v1", "-i", iid).stdout
    assert "RUN make install" in table
    platform = cli.run("tag", "layers", f"{ns}/app:v1", "-i", iid, "--platform", "x", expect=1)
    assert platform.stderr.startswith("error: ") and "platform" in platform.stderr

    manifest = cli.json("tag", "manifest", f"{ns}/app:v1", "-i", iid)
    assert manifest["digest"] == v1.digest and manifest["manifest"]["schemaVersion"] == 2
    by_digest = cli.json("tag", "manifest", f"{ns}/app@{v1.digest}", "-i", iid)
    assert by_digest["digest"] == v1.digest

    # Several tags at once (with a progress bar on a terminal); the manifest stays for v2.
    deleted = cli.json("tag", "delete", f"{ns}/app:v1", f"{ns}/app:a", f"{ns}/app:b", "-i", iid)
    assert deleted == {"deleted": [f"{ns}/app:v1", f"{ns}/app:a", f"{ns}/app:b"], "failed": []}
    assert cli.json("tag", "manifest", f"{ns}/app:v2", "-i", iid)["digest"] == v1.digest
    missing = cli.run("tag", "delete", f"{ns}/app:nope", "-i", iid, expect=1)
    assert "nope" in missing.stderr

    # Immutable: deleting a tag other than latest is refused with the API's message.
    cli.json("repo", "update", f"{ns}/app", "--immutable", "-i", iid)
    refused = cli.run("tag", "delete", f"{ns}/app:c", f"{ns}/app:latest", "-i", iid, expect=1)
    assert "immutable" in refused.stderr and "1 of 2" in refused.stderr
    assert "Deleted" in refused.stdout and ":latest" in refused.stdout
    cli.run("tag", "delete", f"{ns}/app", "-i", iid, expect=2)  # no tag given


def test_triggers(registry: DockyardServer, cli: Cli, instance: dict[str, Any]) -> None:
    iid = instance["id"]
    ns = unique("trg")
    repo = f"{ns}/app"
    cli.json("namespace", "create", ns, "-i", iid)
    cli.json("repo", "create", repo, "-i", iid)
    url = "http://deploy.invalid:8080/hook?token=abc"
    created = cli.json(
        "trigger", "create", repo, "--name", "rel", "--url", url, "--mode", "expression",
        "--expression", "release-v.*", "--cloudevents", "--secret", "-i", iid,
    )  # fmt: skip
    assert created["url"] == url and created["secret"] and created["cloudevents"] is True
    table = cli.run(
        "trigger", "create", repo, "--name", "listed", "--url", url, "--mode", "tags",
        "--tags", "v1, v2", "--secret", "-i", iid,
    ).stdout  # fmt: skip
    assert "Secret (shown only now" in table and "v1, v2" in table
    listed = cli.json("trigger", "list", repo, "-i", iid)
    assert [t["name"] for t in listed] == ["listed", "rel"]
    assert all("secret" not in t for t in listed)
    assert cli.json("trigger", "get", repo, "listed", "-i", iid)["tags"] == ["v1", "v2"]
    changed = cli.json(
        "trigger", "update", repo, "listed", "--mode", "every", "--no-secret", "-i", iid
    )
    assert (changed["mode"], changed["tags"], changed["hasSecret"]) == ("every", [], False)

    refused = cli.run("trigger", "update", repo, "rel", "--url", "https://h:8443/", "-i", iid,
                      expect=1)  # fmt: skip
    assert refused.stderr.startswith("error: ") and "port 443 only" in refused.stderr

    pusher = Pusher(registry, host=instance["endpoints"][0]["domain"])
    try:
        pusher.image(repo, "v9", layers=1)
    finally:
        pusher.close()
    for _ in range(600):
        records = cli.json("trigger", "log", repo, "--trigger", "rel", "-i", iid)
        if records:
            break
    (record,) = records
    assert (record["trigger"], record["tag"], record["status"]) == ("rel", "v9", "Untriggered")
    assert record["reason"] == 'tag "v9" does not match "release-v.*"'
    assert record["responseStatus"] is None and record["attempts"] == 0
    assert cli.json("trigger", "log", repo, "--status", "Triggered", "-i", iid) == []
    assert "Untriggered" in cli.run("trigger", "log", repo, "-i", iid).stdout

    again = cli.json("trigger", "redeliver", repo, record["id"], "-i", iid)
    assert again["redeliveryOf"] == record["id"] and again["status"] == "Pending"
    ping = cli.run("trigger", "ping", repo, "rel", "-i", iid).stdout
    assert "Ping of rel queued as delivery" in ping
    assert cli.json("trigger", "delete", repo, "listed", "-i", iid) == {"deleted": "listed"}
    missing = cli.run("trigger", "get", repo, "listed", "-i", iid, expect=1)
    assert "does not exist" in missing.stderr


def test_basic_login_explicit_server_and_logout(registry: DockyardServer, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    # HOST:PORT on loopback means http://.
    cli.login(registry.host, *registry.admin, "--basic")
    stored = json.loads(cli.credentials.read_text())
    assert stored["default"] == registry.url
    assert "basic" in stored["servers"][registry.url]
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    assert {i["id"] for i in cli.json("instance", "list", "--server", registry.url)} >= {"default"}

    # The prompt path: user name and password typed in (stdin here).
    prompted = cli.run("login", registry.url, input=f"admin\n{registry.admin_password}\n")
    assert "Logged in" in prompted.stdout
    assert "token" in json.loads(cli.credentials.read_text())["servers"][registry.url]

    assert "Logged out" in cli.run("logout").stdout
    assert registry.url not in json.loads(cli.credentials.read_text())["servers"]
    after = cli.run("instance", "list", expect=1)
    assert "not logged in" in after.stderr
    # With --server but no credential, the API's 401 message and a hint.
    anonymous = cli.run("instance", "list", "--server", registry.url, expect=1)
    assert "authentication required" in anonymous.stderr and "dockyard login" in anonymous.stderr
    cli.run("logout", registry.url, expect=1)


def test_retention(registry: DockyardServer, cli: Cli, instance: dict[str, Any]) -> None:
    iid = instance["id"]
    ns = unique("ret")
    cli.json("namespace", "create", ns, "-i", iid)
    cli.json("repo", "create", f"{ns}/app", "-i", iid)
    cli.json("repo", "create", f"{ns}/web", "-i", iid)
    pusher = Pusher(registry, host=instance["endpoints"][0]["domain"])
    try:
        for tag in ("v1", "v2", "v3", "release-1"):
            pusher.image(f"{ns}/app", tag, layers=1)
    finally:
        pusher.close()
    repos = f"{ns}/app,{ns}/web"
    created = cli.json(
        "retention", "create", "trim", "--repository", repos, "--keep-latest", "2",
        "--keep-tags", "release-.*", "--schedule", "02:00", "-i", iid,
    )  # fmt: skip
    assert created["repositories"] == [f"{ns}/app", f"{ns}/web"]
    assert created["schedule"] == "02:00" and created["nextRunAt"]
    assert [p["name"] for p in cli.json("retention", "list", "-i", iid)] == ["trim"]
    assert cli.json("retention", "show", "trim", "-i", iid)["keepTags"] == "release-.*"
    both = cli.run("retention", "create", "x", "--namespace", ns, "--repository", repos,
                   "--keep-latest", "1", "-i", iid, expect=2)  # fmt: skip
    assert "not both" in both.stderr

    dry = cli.json("retention", "run", "trim", "--dry-run", "-i", iid)
    app = next(r for r in dry["repositories"] if r["repository"] == f"{ns}/app")
    assert (app["kept"], app["deleted"]) == (["release-1", "v3"], ["v1", "v2"])

    # Asked, and answered no: nothing deleted.
    declined = cli.run("retention", "run", "trim", "-i", iid, input="n\n", expect=1)
    assert "v1" in declined.stdout and "Delete these 2 tags?" in declined.stderr
    assert cli.json("retention", "runs", "trim", "-i", iid) == []
    # With --json the plan goes to stderr, the run (after "y") to stdout as JSON.
    confirmed = cli.run("retention", "run", "trim", "--json", "-i", iid, input="y\n")
    assert f"{ns}/app: v1, v2" in confirmed.stderr
    run = json.loads(confirmed.stdout)
    done = next(r for r in run["repositories"] if r["repository"] == f"{ns}/app")
    assert (done["kept"], done["deleted"]) == (app["kept"], app["deleted"])
    assert len(done["deletedManifests"]) == 2
    tags = sorted(t["name"] for t in cli.json("tag", "list", f"{ns}/app", "-i", iid))
    assert tags == ["release-1", "v3"]
    [recorded] = cli.json("retention", "runs", "trim", "-i", iid)
    assert recorded["id"] == run["id"] and recorded["status"] == "Succeeded"
    again = cli.json("retention", "run", "trim", "--yes", "-i", iid)  # no question asked
    assert all(r["deleted"] == [] for r in again["repositories"])
    table = cli.run("retention", "runs", "trim", "-i", iid).stdout
    assert "Succeeded" in table and "manual" in table
    # The scope changes to the whole namespace; the schedule goes.
    moved = cli.json("retention", "update", "trim", "--namespace", ns, "--schedule", "", "-i", iid)
    assert (moved["namespace"], moved["repositories"], moved["schedule"]) == (ns, [], None)
    nothing = cli.run("retention", "update", "trim", "-i", iid, expect=2)
    assert "at least one option" in nothing.stderr
    assert cli.json("retention", "delete", "trim", "-i", iid) == {"deleted": "trim"}
    assert "does not exist" in cli.run("retention", "show", "trim", "-i", iid, expect=1).stderr
