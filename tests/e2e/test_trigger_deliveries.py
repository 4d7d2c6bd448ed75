"""Webhook triggers end to end: a real server, real skopeo pushes, a real receiver process.

Three servers, one per outbound configuration, each started once for the module:

* ``site``: 127.0.0.0/8 admitted (``DOCKYARD_WEBHOOK_ALLOWED_CIDRS``), with short retry
  backoff and polls — where deliveries reach the receiver;
* ``guarded``: the default outbound policy (loopback, link-local, … refused);
* ``private_denied``: the default plus ``DOCKYARD_WEBHOOK_DENY_PRIVATE=true``.

The receiver (``tests/webhook_receiver.py``) records every request it gets; what it
answers depends on the URL path, so every trigger chooses its receiver's behaviour.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from tests.conftest import WEBHOOK_TEST_ENV, DockyardServer, ReceiverFactory
from tests.dockyard_cli import Cli
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient
from tests.webhook_receiver import Delivery, Receiver

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
#: Settings of the servers without the test allowance: deliveries still retry quickly.
QUICK = {k: v for k, v in WEBHOOK_TEST_ENV.items() if k != "DOCKYARD_WEBHOOK_ALLOWED_CIDRS"}
#: Admitted on ``site`` besides loopback, to show an allowed link-local address is tried.
METADATA_ADDRESS = "169.254.169.254"

T = TypeVar("T")
_names = itertools.count()


def eventually(probe: Callable[[], T | None], what: str, seconds: float = WAIT_SECONDS) -> T:
    """``probe()``'s first truthy value, polling; fails naming ``what`` after a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Site:
    """One running server with a logged-in CLI, an API client and skopeo."""

    server: DockyardServer
    cli: Cli
    api: httpx.Client
    skopeo: C.Skopeo
    tmp: Path

    def new_repository(self, hint: str) -> tuple[str, C.LayoutInfo]:
        """A fresh ``ns/repo`` with one image pushed as ``init`` (before any trigger)."""
        repo = f"trig{next(_names)}/{hint}"
        image = self.layout(f"{hint}-init")
        self.push(image, repo, "init")
        return repo, image

    def layout(self, label: str, **kw: Any) -> C.LayoutInfo:
        return C.make_oci_layout(self.tmp / f"layout-{label}-{next(_names)}", **kw)

    def push(self, image: C.LayoutInfo, repo: str, tag: str, *, all: bool = False) -> str:
        """``skopeo copy`` of ``image`` to ``repo:tag``; the digest pushed."""
        return self.skopeo.copy(
            image.oci_ref,
            f"docker://{self.server.host}/{repo}:{tag}",
            all=all,
            dest_creds=self.server.admin,
        )

    def create(self, repo: str, name: str, url: str, mode: str = "every", *opts: str) -> None:
        self.cli.run("trigger", "create", repo, "--name", name, "--url", url, "--mode", mode, *opts)

    def log(self, repo: str, *opts: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.cli.json("trigger", "log", repo, *opts)
        return records

    def records(self, repo: str) -> list[dict[str, Any]]:
        """The log through the API (cheaper than the CLI for polling)."""
        ns, name = repo.split("/", 1)
        resp = self.api.get(
            f"/instances/default/namespaces/{ns}/repositories/{name}/trigger-records",
            params={"pageSize": 100},
        )
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["items"]
        return items

    def settled(self, repo: str, count: int) -> bool:
        """Whether the log holds ``count`` records and none is Pending."""
        records = self.records(repo)
        return len(records) >= count and all(r["status"] != "Pending" for r in records)

    def triggers_path(self, repo: str) -> str:
        ns, name = repo.split("/", 1)
        return f"/instances/default/namespaces/{ns}/repositories/{name}/triggers"


def _start(tmp: Path, env: dict[str, str]) -> Iterator[Site]:
    server = DockyardServer(tmp / "server", env=env)
    server.start()
    cli = Cli(tmp / "home")
    try:
        cli.login(server.url, *server.admin)
        with httpx.Client(base_url=f"{server.url}/api/v1", auth=server.admin, timeout=60) as api:
            yield Site(server, cli, api, C.Skopeo(tmp / "skopeo"), tmp)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    env = {
        **WEBHOOK_TEST_ENV,
        "DOCKYARD_WEBHOOK_ALLOWED_CIDRS": f"127.0.0.0/8,{METADATA_ADDRESS}/32",
    }
    yield from _start(tmp_path_factory.mktemp("triggers-site"), env)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _start(tmp_path_factory.mktemp("triggers-guarded"), QUICK)


@pytest.fixture(scope="module")
def private_denied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    env = {**QUICK, "DOCKYARD_WEBHOOK_DENY_PRIVATE": "true"}
    yield from _start(tmp_path_factory.mktemp("triggers-private"), env)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    with Receiver(tmp_path_factory.mktemp("receiver")) as running:
        yield running


def by_tag(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    out: dict[str, list[Delivery]] = {}
    for d in deliveries:
        out.setdefault(d.json()["tag"], []).append(d)
    return out


# -- matching, per mode ------------------------------------------------------------------------


def test_each_mode_delivers_exactly_the_matching_pushes_and_logs_the_others(
    site: Site, receiver: Receiver
) -> None:
    repo, image_a = site.new_repository("modes")
    ns, name = repo.split("/", 1)
    hooks = {t: receiver.hook(f"{t}-{ns}") for t in ("every", "expr", "pinned")}
    site.create(repo, "every", hooks["every"])
    site.create(repo, "expr", hooks["expr"], "expression", "--expression", "release-v.*")
    site.create(repo, "pinned", hooks["pinned"], "tags", "--tags", "v1,stable")
    assert site.log(repo) == []  # the push before the triggers existed logs nothing

    digest_a = image_a.digest
    image_b = site.layout("modes-b")
    index = site.layout("modes-index", platforms=["linux/amd64", "linux/arm64"])
    pushes = [  # (tag, digest) of every push that must be logged, in order
        ("release-v1", site.push(image_a, repo, "release-v1")),
        ("v1", site.push(image_a, repo, "v1")),
        ("dev", site.push(image_a, repo, "dev")),
        ("xrelease-v1", site.push(image_a, repo, "xrelease-v1")),
    ]
    assert {d for _, d in pushes} == {digest_a}
    # An identical re-push and a push by digest: no TagUpdated, nothing logged or sent.
    assert site.push(image_a, repo, "v1") == digest_a
    with RegistryClient(site.server.url, *site.server.admin) as registry:
        registry.random_image(repo)  # manifest PUT by digest
    pushes.append(("v1", site.push(image_b, repo, "v1")))  # v1 moves to another digest
    # A two-platform index: its children go by digest, only the index moves the tag.
    pushes.append(("stable", site.push(index, repo, "stable", all=True)))
    assert pushes[-1][1] == index.digest

    eventually(lambda: site.settled(repo, 3 * len(pushes)), "every push logged")
    records = site.log(repo)
    expected = {
        "every": {t for t, _ in pushes},
        "expr": {"release-v1"},
        "pinned": {"v1", "stable"},
    }
    assert len(records) == 3 * len(pushes), records
    for trigger, matching in expected.items():
        mine = [r for r in records if r["trigger"] == trigger]
        assert sorted((r["tag"], r["digest"]) for r in mine) == sorted(pushes), mine
        for r in mine:
            if r["tag"] in matching:
                assert r["status"] == "Triggered", r
                assert (r["responseStatus"], r["attempts"], r["ping"]) == (200, 1, False), r
                assert r["latencyMs"] is not None and r["reason"] is None, r
            else:
                assert r["status"] == "Untriggered", r
                assert r["reason"] and f'"{r["tag"]}"' in r["reason"], r
                assert (r["responseStatus"], r["attempts"]) == (None, 0), r
        triggered = {r["id"] for r in mine if r["status"] == "Triggered"}

        got = receiver.deliveries(hooks[trigger])
        # Exactly the matching pushes, each once, under its record's id.
        assert len(got) == len(triggered) and {d.delivery for d in got} == triggered, got
        assert sorted((d.json()["tag"], d.json()["digest"]) for d in got) == sorted(
            (t, d) for t, d in pushes if t in matching
        )
    expr_untriggered = [
        r for r in records if r["trigger"] == "expr" and r["status"] == "Untriggered"
    ]
    assert all('"release-v.*"' in r["reason"] for r in expr_untriggered), expr_untriggered

    # The body names the push (instance, region, repository, tag, digest, type, time, pusher).
    (stable,) = by_tag(receiver.deliveries(hooks["every"]))["stable"]
    body = stable.json()
    assert stable.content_type == "application/json"
    assert set(body) == {
        "instance",
        "region",
        "namespace",
        "repository",
        "tag",
        "digest",
        "mediaType",
        "pushedAt",
        "pushedBy",
    }
    assert (body["instance"], body["namespace"], body["repository"]) == ("default", ns, name)
    assert (body["mediaType"], body["pushedBy"]) == (OCI_INDEX, "admin")
    assert body["region"]
    assert datetime.fromisoformat(body["pushedAt"].replace("Z", "+00:00")).tzinfo is not None
    assert stable.timestamp is not None and abs(int(stable.timestamp) - stable.arrival) < 300
    assert stable.signature is None  # no secret, no signature

    # The filters of the log.
    untriggered = site.log(repo, "--status", "Untriggered")
    assert {r["status"] for r in untriggered} == {"Untriggered"}
    assert len(untriggered) == sum(r["status"] == "Untriggered" for r in records) > 0
    assert [r["tag"] for r in site.log(repo, "--trigger", "expr", "--status", "Triggered")] == [
        "release-v1"
    ]


# -- retries ---------------------------------------------------------------------------------


def test_a_receiver_down_then_up_gets_the_delivery_after_the_backoff(
    site: Site, webhook_receiver: ReceiverFactory
) -> None:
    late = webhook_receiver(start=False)
    repo, image = site.new_repository("late")
    site.create(repo, "late", late.hook("late"))
    digest = site.push(image, repo, "v1")

    def retrying() -> dict[str, Any] | None:
        records = site.records(repo)  # none until the push event reaches the triggers
        return records[0] if records and records[0]["attempts"] >= 2 else None

    waiting = eventually(retrying, "two failed attempts while the receiver is down")
    assert waiting["status"] == "Pending" and waiting["reason"], waiting
    late.start()
    eventually(lambda: site.settled(repo, 1), "the delivery once the receiver is up")
    (done,) = site.log(repo)
    assert done["status"] == "Triggered", done
    assert done["id"] == waiting["id"] and done["attempts"] > waiting["attempts"] >= 2
    assert done["responseStatus"] == 200
    (got,) = late.deliveries()
    assert (got.delivery, got.json()["digest"]) == (done["id"], digest)


def test_500_three_times_then_delivered_on_the_fourth_attempt_with_the_same_id(
    site: Site, receiver: Receiver
) -> None:
    repo, image = site.new_repository("flaky")
    ns = repo.split("/")[0]
    flaky, gone, moved = (
        receiver.failing(3, f"flaky-{ns}"),
        receiver.answering(410, f"gone-{ns}"),
        receiver.answering(302, f"moved-{ns}"),
    )
    site.create(repo, "flaky", flaky)
    site.create(repo, "gone", gone)
    site.create(repo, "moved", moved)
    site.push(image, repo, "v1")

    eventually(lambda: site.settled(repo, 3), "outcomes")
    records = {r["trigger"]: r for r in site.log(repo)}
    flaky_record = records["flaky"]
    assert (flaky_record["status"], flaky_record["attempts"]) == ("Triggered", 4), flaky_record
    assert flaky_record["responseStatus"] == 200
    got = receiver.deliveries(flaky)
    assert [d.status for d in got] == [500, 500, 500, 200]
    assert {d.delivery for d in got} == {flaky_record["id"]}
    assert len({d.body for d in got}) == 1  # the same delivery, sent again

    # Another 4xx and a redirect are final: one attempt, Failed, the status kept.
    for trigger, status in (("gone", 410), ("moved", 302)):
        r = records[trigger]
        assert (r["status"], r["attempts"], r["responseStatus"]) == ("Failed", 1, status), r
        assert str(status) in r["reason"], r
    assert len(receiver.deliveries(gone)) == len(receiver.deliveries(moved)) == 1


# -- signatures, CloudEvents, ping and redelivery ------------------------------------------------


def test_signature_verifies_with_the_secret_shown_once_and_cloudevents_body_parses(
    site: Site, receiver: Receiver
) -> None:
    repo, image = site.new_repository("signed")
    ns = repo.split("/")[0]
    signed_url, ce_url = receiver.hook(f"signed-{ns}"), receiver.hook(f"ce-{ns}")
    created = site.cli.json(
        "trigger",
        "create",
        repo,
        "--name",
        "signed",
        "--url",
        signed_url,
        "--mode",
        "every",
        "--secret",
    )
    secret = created["secret"]
    assert secret and created["hasSecret"] is True
    site.create(repo, "ce", ce_url, "every", "--cloudevents")
    # Shown once: never again, through the API or the CLI.
    shown = site.api.get(f"{site.triggers_path(repo)}/signed").json()
    assert shown["hasSecret"] is True and "secret" not in shown
    assert secret not in site.cli.run("trigger", "get", repo, "signed").stdout
    assert secret not in site.cli.run("trigger", "list", repo, "--json").stdout

    digest = site.push(image, repo, "v7")
    eventually(lambda: site.settled(repo, 2), "both deliveries")

    (signed,) = receiver.deliveries(signed_url)
    assert signed.timestamp and signed.signature and signed.signature.startswith("sha256=")
    message = f"{signed.timestamp}.{signed.body}".encode()
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signed.signature, f"sha256={expected}")
    forged = hmac.new(b"not-the-secret", message, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(signed.signature, f"sha256={forged}")

    (ce,) = receiver.deliveries(ce_url)
    assert (ce.content_type or "").startswith("application/cloudevents+json")
    event = json.loads(ce.body)
    assert event["specversion"] == "1.0"
    assert event["id"] == ce.delivery and ce.headers.get("ce-id") == ce.delivery
    assert event["type"] == "io.dockyard.image.pushed" and event["source"]
    assert event["data"] == signed.json()  # the same push, as the CloudEvents data
    assert (event["data"]["tag"], event["data"]["digest"]) == ("v7", digest)
    parsed = _cloudevent(ce)
    assert (parsed["id"], parsed["specversion"]) == (ce.delivery, "1.0")


def _cloudevent(delivery: Delivery) -> dict[str, Any]:
    """The body read by the CloudEvents SDK (it refuses what is not CloudEvents 1.0)."""
    from cloudevents.core.formats.json import JSONFormat

    event = JSONFormat().read(None, delivery.body.encode())
    return dict(event.get_attributes())


def test_ping_and_redeliver_through_the_cli(site: Site, receiver: Receiver) -> None:
    repo, image = site.new_repository("pinged")
    url = receiver.hook(f"pinged-{repo.split('/')[0]}")
    site.create(repo, "hook", url)
    digest = site.push(image, repo, "v1")
    eventually(lambda: site.settled(repo, 1), "the push delivered")
    (original,) = site.log(repo)

    site.cli.run("trigger", "ping", repo, "hook")
    eventually(lambda: site.settled(repo, 2), "the ping delivered")
    (ping,) = [r for r in site.log(repo) if r["ping"]]
    assert ping["status"] == "Triggered" and ping["id"] != original["id"]

    out = site.cli.run("trigger", "redeliver", repo, original["id"]).stdout
    eventually(lambda: site.settled(repo, 3), "the redelivery done")
    (again,) = [r for r in site.log(repo) if r.get("redeliveryOf") == original["id"]]
    assert again["id"] in out and again["id"] not in (original["id"], ping["id"])
    assert (again["status"], again["tag"], again["digest"]) == ("Triggered", "v1", digest)

    got = {d.delivery: d for d in receiver.deliveries(url)}
    assert set(got) == {original["id"], ping["id"], again["id"]}
    assert got[again["id"]].json() == got[original["id"]].json()  # the same push, sent again
    # The original record is untouched by its redelivery.
    (still,) = [r for r in site.log(repo) if r["id"] == original["id"]]
    assert (still["status"], still["attempts"]) == ("Triggered", 1)


# -- outbound safety ----------------------------------------------------------------------------


def test_loopback_link_local_and_localhost_are_refused_by_default_and_admitted_when_allowed(
    guarded: Site, site: Site, receiver: Receiver
) -> None:
    targets = {
        "loopback": f"http://127.0.0.1:{receiver.port}/hook/refused-loopback",
        "metadata": f"http://{METADATA_ADDRESS}/latest/meta-data",
        "localhost": f"http://localhost:{receiver.port}/hook/refused-localhost",
    }
    repo, image = guarded.new_repository("guarded")
    for name, url in targets.items():
        guarded.create(repo, name, url)
    guarded.push(image, repo, "v1")
    eventually(lambda: guarded.settled(repo, 3), "refusals")
    records = {r["trigger"]: r for r in guarded.log(repo)}
    for r in records.values():
        # Refused for good on the first attempt, with the reason in words.
        assert (r["status"], r["attempts"], r["responseStatus"]) == ("Failed", 1, None), r
        assert r["reason"], r
    assert "127.0.0.1" in records["loopback"]["reason"], records
    assert "127.0.0.1" in records["localhost"]["reason"], records  # the resolved address
    assert METADATA_ADDRESS in records["metadata"]["reason"], records
    assert receiver.deliveries(targets["loopback"]) == []
    assert receiver.deliveries(targets["localhost"]) == []

    # Where DOCKYARD_WEBHOOK_ALLOWED_CIDRS admits them, the same URLs are tried.
    repo, image = site.new_repository("allowed")
    allowed = {
        "loopback": f"http://127.0.0.1:{receiver.port}/hook/allowed-loopback-{repo[:10]}",
        "localhost": f"http://localhost:{receiver.port}/hook/allowed-localhost-{repo[:10]}",
        "metadata": targets["metadata"],
    }
    for name, url in allowed.items():
        site.create(repo, name, url)
    site.push(image, repo, "v1")

    def outcomes() -> dict[str, dict[str, Any]] | None:
        found = {r["trigger"]: r for r in site.records(repo)}
        done = found.get("metadata", {}).get("attempts", 0) >= 1 and all(
            found.get(n, {}).get("status") == "Triggered" for n in ("loopback", "localhost")
        )
        return found if done else None

    found = eventually(outcomes, "loopback and localhost delivered, the metadata address tried")
    for name in ("loopback", "localhost"):
        (got,) = receiver.deliveries(allowed[name])
        assert got.delivery == found[name]["id"]
    # Nobody answers at the metadata address here: a connection failure, not a refusal.
    assert found["metadata"]["reason"] != records["metadata"]["reason"], found["metadata"]
    site.cli.run("trigger", "delete", repo, "metadata")  # no more retries


def test_a_private_address_is_refused_when_private_ranges_are_denied(
    private_denied: Site,
) -> None:
    repo, image = private_denied.new_repository("private")
    private_denied.create(repo, "private", "http://10.20.30.40:8080/deploy")
    private_denied.push(image, repo, "v1")
    eventually(lambda: private_denied.settled(repo, 1), "the refusal")
    (record,) = private_denied.log(repo)
    assert (record["status"], record["attempts"]) == ("Failed", 1), record
    assert "10.20.30.40" in record["reason"], record


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_refused_with_the_rule_and_nothing_is_saved(private_denied: Site) -> None:
    site = private_denied
    repo, _ = site.new_repository("bad")
    keep = "http://hooks.example.com:8080/deploy?token=t0k3n"
    site.create(repo, "keep", keep, "tags", "--tags", "v1")
    before = site.cli.json("trigger", "list", repo)
    assert [t["name"] for t in before] == ["keep"]

    def refused(*args: str, says: str) -> None:
        result = site.cli.run("trigger", *args, expect=1)
        assert result.stderr.startswith("error: "), str(result)
        assert says in result.stderr, str(result)

    def create(name: str, url: str, *opts: str, says: str) -> None:
        refused("create", repo, "--name", name, "--url", url, *opts, says=says)

    every = ("--mode", "every")
    create("ftp", "ftp://hooks.example.com/x", *every, says="http and https")
    create("nohost", "http:///deploy", *every, says="host")
    create("ssh", "http://hooks.example.com:22/x", *every, says="1025-65535")
    create("low", "http://hooks.example.com:1024/x", *every, says="1025-65535")
    create("zero", "http://hooks.example.com:0/x", *every, says="port")
    create("tls", "https://hooks.example.com:8443/x", *every, says="443")
    create("tls80", "https://hooks.example.com:80/x", *every, says="443")
    eleven = ",".join(f"t{i}" for i in range(11))
    create("many", "http://hooks.example.com/x", "--mode", "tags", "--tags", eleven, says="10")
    create(
        "regex",
        "http://hooks.example.com/x",
        "--mode",
        "expression",
        "--expression",
        "release-(v",
        says="regular expression",
    )
    create("noexpr", "http://hooks.example.com/x", "--mode", "expression", says="expression")
    create("mode", "http://hooks.example.com/x", "--mode", "sometimes", says="mode")
    create("bad name", "http://hooks.example.com/x", *every, says="name")
    create("keep", "http://hooks.example.com/x", *every, says="keep")  # taken
    refused("update", repo, "keep", "--url", "https://hooks.example.com:8443/", says="443")
    refused("update", repo, "keep", "--mode", "tags", "--tags", eleven, says="10")
    refused(
        "create",
        f"{repo.split('/')[0]}/missing",
        "--name",
        "x",
        "--url",
        "http://hooks.example.com/x",
        *every,
        says="missing",
    )
    # The same rules through the API: 4xx with the rule in the message, nothing saved.
    path = site.triggers_path(repo)
    resp = site.api.post(
        path,
        json={
            "name": "many",
            "url": "http://h.example.com/",
            "mode": "tags",
            "tags": eleven.split(","),
        },
    )
    # (400 for a rule of the service, 422 for the request schema: both name the rule)
    assert resp.status_code in (400, 422) and "10" in resp.json()["message"], resp.text
    resp = site.api.post(
        path, json={"name": "p", "url": "http://h.example.com:25/", "mode": "every"}
    )
    assert resp.status_code == 400 and "1025-65535" in resp.json()["message"], resp.text
    ns = repo.split("/")[0]
    missing = site.triggers_path(f"{ns}/missing")
    resp = site.api.post(
        missing, json={"name": "m", "url": "http://h.example.com/", "mode": "every"}
    )
    assert resp.status_code == 404, resp.text
    assert site.cli.json("trigger", "list", repo) == before, "a refused change was saved"

    # The edges of the rules are accepted (and the CLI deletes what it made).
    for name, url in (
        ("port1025", "http://hooks.example.com:1025/x"),
        ("port21", "http://hooks.example.com:21/x"),
        ("tls", "https://hooks.example.com/x"),
        ("tls443", "https://hooks.example.com:443/x"),
    ):
        site.create(repo, name, url)
        site.cli.run("trigger", "delete", repo, name)
    ten = ",".join(f"t{i}" for i in range(10))
    site.create(repo, "ten", "http://hooks.example.com/x", "tags", "--tags", ten)
    (saved,) = [t for t in site.cli.json("trigger", "list", repo) if t["name"] == "ten"]
    assert saved["tags"] == ten.split(",")
    site.cli.run("trigger", "delete", repo, "ten")
    assert site.cli.json("trigger", "list", repo) == before
