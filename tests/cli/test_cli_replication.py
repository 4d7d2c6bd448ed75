"""``dockyard remote``, ``dockyard replicate`` and ``dockyard replication task`` against the
shared server, as a subprocess: a tag replicated to a second instance with ``--wait``, a
refused overwrite exiting non-zero with its reason, the task records, and remotes whose
secret is never printed."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from tests.api.conftest import Pusher
from tests.conftest import DockyardServer
from tests.dockyard_cli import Cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cli(registry: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    client = Cli(tmp_path_factory.mktemp("cli-replication"))
    client.login(registry.url, *registry.admin)
    return client


def test_replicate_with_wait_then_read_the_records(registry: DockyardServer, cli: Cli) -> None:
    name = f"cli{secrets.token_hex(4)}/app"
    pusher = Pusher(registry)
    try:
        first = pusher.image(name, "v1")
        pusher.image(name, "v2")
    finally:
        pusher.close()
    target = cli.json("instance", "create", "cli-replica", "--edition", "Standard",
                      "--region", "local")["id"]  # fmt: skip

    [task] = cli.json("replicate", f"{name}:v1", "--to", target, "--wait")
    assert (task["status"], task["sourceDigest"]) == ("Completed", first.digest)
    table = cli.run("replication", "task", "show", task["id"]).stdout
    assert "Completed" in table and "copied" in table

    refused = cli.run("replicate", f"{name}:v2", "--to", target, "--tag", "v1", "--wait", expect=1)
    assert "overwrite is off" in refused.stderr
    failed = cli.json("replication", "task", "list", "--repository", f"{name}:v2", "--status",
                      "Failed")  # fmt: skip
    assert len(failed) == 1 and failed[0]["destinationTag"] == "v1"
    retried = cli.json("replication", "task", "retry", failed[0]["id"])
    assert retried["status"] == "Waiting"
    cancelled = cli.run("replication", "task", "cancel", task["id"], expect=1)
    assert "only waiting or running tasks are cancelled" in cancelled.stderr

    both = cli.json("replicate", name, "--tags", "v[12]", "--to", target, "--overwrite", "--wait")
    assert sorted(t["sourceTag"] for t in both) == ["v1", "v2"]
    assert {t["status"] for t in both} == {"Completed"}


def test_remotes_keep_their_secret(cli: Cli) -> None:
    name = f"r{secrets.token_hex(4)}"
    added = json.loads(
        cli.run("remote", "add", name, "--url", "https://registry.example", "--username",
                "robot", "--password-stdin", "--json", input="S3cret-value\n").stdout
    )  # fmt: skip
    assert added["username"] == "robot" and "secret" not in added
    listed = cli.run("remote", "list", "--json").stdout
    assert name in listed and "S3cret-value" not in listed
    neither = cli.run("remote", "add", "x", "--url", "https://r.example", expect=2)
    assert "--access-key-id or --username" in neither.stderr
    cli.run("remote", "remove", name)
    assert name not in cli.run("remote", "list", "--json").stdout


def test_rules(registry: DockyardServer, cli: Cli) -> None:
    namespace = f"clirule{secrets.token_hex(4)}"
    target = cli.json("instance", "create", "cli-rules", "--edition", "Advanced",
                      "--region", "local")["id"]  # fmt: skip
    rule = f"r{secrets.token_hex(3)}"
    created = cli.json("replication", "rule", "create", rule, "--to", target, "--level",
                       "namespace", "--source", namespace, "--tags", "v.*")  # fmt: skip
    assert (created["source"], created["tags"], created["enabled"]) == (namespace, "v.*", True)
    assert rule in [r["name"] for r in cli.json("replication", "rule", "list")]
    assert cli.json("replication", "rule", "disable", rule)["enabled"] is False
    assert cli.json("replication", "rule", "enable", rule)["enabled"] is True
    pusher = Pusher(registry)
    try:
        pusher.image(f"{namespace}/app", "v1")
    finally:
        pusher.close()
    deadline = time.monotonic() + 120
    while not (tasks := cli.json("replication", "task", "list", "--repository",
                                 f"{namespace}/app", "--status", "Completed")):  # fmt: skip
        assert time.monotonic() < deadline, "the rule's task did not complete"
        time.sleep(0.5)
    assert tasks[0]["rule"] == rule
    cli.run("replication", "rule", "delete", rule)
    assert rule not in [r["name"] for r in cli.json("replication", "rule", "list")]
