"""``dockyard k8s-credential-helper`` against a real Dockyard and the stand-in Kubernetes API
server (tests/k8s_standin.py, its own process), which the real ``kubectl`` v1.29 drives.

Nothing here ran against a real Kubernetes cluster: none can be installed on these machines.
The stand-in speaks the core/v1 paths, resourceVersions, watch streams and 410 Gone; kubectl
proves it speaks them as a real server does. The pull credentials the helper writes are used
by a real ``skopeo`` against Dockyard.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.conftest import DockyardServer, free_port
from tests.e2e import clients as C
from tests.e2e.access_keys import issued, made_access_key

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

KUBECTL = Path(os.environ.get("DOCKYARD_TEST_KUBECTL", "/opt/kubectl-v29/kubectl/kubectl"))
STANDIN = Path(__file__).resolve().parents[1] / "k8s_standin.py"
DOCKYARD = Path(sys.executable).parent / "dockyard"
PULL_SECRET = "dockyard-pull-credentials"
WAIT = 30.0
TESTS_AGENT = "dockyard-tests"
MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "examples" / "k8s-credential-helper.yaml"


def wait_until(
    check: Callable[[], Any], what: str, logs: Callable[[], str] = str, bound: float = WAIT
) -> Any:
    """Poll ``check`` until it returns something true (no timing asserted: only a bound)."""
    deadline = time.monotonic() + bound
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}\n{logs()}")
        time.sleep(0.2)


class StandIn:
    """The stand-in API server process and a kubeconfig pointing at it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kubeconfig = workdir / "kubeconfig"
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "stand-in"}}],
                    "contexts": [
                        {"name": "standin", "context": {"cluster": "standin", "user": "tester"}}
                    ],
                    "current-context": "standin",
                }
            )
        )
        self.log = open(workdir / "standin.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(STANDIN), "--port", str(self.port), "--bookmark-every", "1"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.http = httpx.Client(base_url=self.url, timeout=10, headers={"User-Agent": TESTS_AGENT})

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()

    def kubectl(self, *args: str, input: str | None = None, expect: int = 0) -> str:
        done = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == expect, f"kubectl {args}: {done.returncode}\n{done.stderr}"
        return done.stdout + done.stderr

    def apply(self, manifest: dict[str, Any]) -> str:
        return self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def get(self, path: str) -> dict[str, Any] | None:
        resp = self.http.get(f"/api/v1/{path}")
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found

    def pull_secrets_of(self, namespace: str, account: str) -> list[str]:
        found = self.get(f"namespaces/{namespace}/serviceaccounts/{account}") or {}
        return [ref["name"] for ref in found.get("imagePullSecrets", [])]

    def dockerconfig(self, namespace: str) -> dict[str, Any] | None:
        secret = self.get(f"namespaces/{namespace}/secrets/{PULL_SECRET}")
        if secret is None:
            return None
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        found: dict[str, Any] = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
        return found

    def requests(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.http.get("/_standin/requests").json()
        return found


def configmap(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "acr-configuration", "namespace": "kube-system"},
        "data": data,
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def account(ns: str, name: str, *pull_secrets: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns},
        "imagePullSecrets": [{"name": s} for s in pull_secrets],
    }


def key_secret(key: dict[str, Any], name: str = "dockyard-access-key") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "kube-system"},
        "type": "Opaque",
        "stringData": {
            "accessKeyId": key["accessKeyId"],
            "accessKeySecret": key["accessKeySecret"],
        },
    }


class Helper:
    """``dockyard k8s-credential-helper`` as a process, its log in a file."""

    def __init__(self, standin: StandIn, registry: DockyardServer, logfile: Path) -> None:
        self.logfile = logfile
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        with open(logfile, "w") as out:
            self.proc = subprocess.Popen(
                [
                    str(DOCKYARD),
                    "k8s-credential-helper",
                    "--server",
                    registry.url,
                    "--kubeconfig",
                    str(standin.kubeconfig),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def logs(self) -> str:
        return self.logfile.read_text()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def logged(self, event: str) -> int:
        return sum(1 for e in self.events() if e.get("event") == event)

    def exit_code(self) -> int:
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def access_key(registry: DockyardServer) -> Iterator[dict[str, Any]]:
    yield from made_access_key(registry, "k8s credential helper")


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    server = StandIn(tmp_path_factory.mktemp("k8s-standin"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def helper(
    standin: StandIn,
    registry: DockyardServer,
    access_key: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Helper]:
    """One helper for the module, started on a cluster with two watched namespaces."""
    standin.apply(namespace("team-a"))
    standin.apply(namespace("team-b"))
    standin.apply(account("team-a", "builder", "registry-mirror"))
    standin.apply(account("team-a", "unlisted"))
    standin.apply(key_secret(access_key))
    standin.apply(
        configmap(
            **{
                "service-account": "default, builder",
                "watch-namespace": "default,team-a",
                "acr-registry-info": f'- instanceId: ""\n  domains: "{registry.host}"\n',
                "notify-email": "ops@example.com",
            }
        )
    )
    running = Helper(standin, registry, tmp_path_factory.mktemp("k8s-helper") / "helper.log")
    try:
        yield running
    finally:
        running.stop()


def test_kubectl_drives_the_standin(standin: StandIn, tmp_path: Path) -> None:
    """The real kubectl v1.29 against the stand-in: discovery, get, apply (create, unchanged,
    configured, with its strategic merge patch), patch (strategic and merge), get -w."""
    assert "v1.29" in standin.kubectl("version")
    standin.apply(namespace("kubectl-check"))
    assert "kubectl-check" in standin.kubectl("get", "namespaces", "-o", "name")
    sa = account("kubectl-check", "robot", "one")
    assert "serviceaccount/robot created" in standin.apply(sa)
    assert "serviceaccount/robot unchanged" in standin.apply(sa)
    sa["imagePullSecrets"].append({"name": "two"})
    assert "serviceaccount/robot configured" in standin.apply(sa)
    assert standin.pull_secrets_of("kubectl-check", "robot") == ["one", "two"]
    typo = {**sa, "imagePullSecret": [{"name": "three"}]}
    refused = standin.kubectl("apply", "-f", "-", input=json.dumps(typo), expect=1)
    assert 'strict decoding error: unknown field "imagePullSecret"' in refused
    # kubectl patch sends a strategic merge patch: imagePullSecrets merge by name ...
    standin.kubectl(
        "-n", "kubectl-check", "patch", "sa", "robot", "-p", '{"imagePullSecrets":[{"name":"x"}]}'
    )
    assert standin.pull_secrets_of("kubectl-check", "robot") == ["one", "two", "x"]
    # ... a merge patch replaces the list.
    standin.kubectl(
        "-n",
        "kubectl-check",
        "patch",
        "sa",
        "robot",
        "--type",
        "merge",
        "-p",
        '{"imagePullSecrets":[{"name":"y"}]}',
    )
    assert standin.pull_secrets_of("kubectl-check", "robot") == ["y"]
    ours = [r for r in standin.requests() if r["method"] == "PATCH"]
    assert [r["path"] for r in ours][-2:] == [
        "/api/v1/namespaces/kubectl-check/serviceaccounts/robot"
    ] * 2
    # get -w: the watch stream delivers an account created after it started.
    out = open(tmp_path / "watch.out", "w")
    watcher = subprocess.Popen(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(standin.kubeconfig),
            "-n",
            "kubectl-check",
            "get",
            "sa",
            "-w",
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.metadata.name}{'\\n'}",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: "robot" in (tmp_path / "watch.out").read_text(), "the first list")
        standin.kubectl("-n", "kubectl-check", "create", "serviceaccount", "watched")
        wait_until(
            lambda: "ADDED watched" in (tmp_path / "watch.out").read_text(),
            "kubectl get -w shows the new account",
            lambda: (tmp_path / "watch.out").read_text(),
        )
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        out.close()
    assert any(r["query"].get("watch") == "true" for r in standin.requests())


def test_pull_secrets_in_watched_namespaces_open_the_registry(
    standin: StandIn, helper: Helper, registry: DockyardServer, tmp_path: Path
) -> None:
    config = wait_until(lambda: standin.dockerconfig("team-a"), "the team-a Secret", helper.logs)
    assert wait_until(lambda: standin.dockerconfig("default"), "the default Secret", helper.logs)
    assert list(config["auths"]) == [registry.host]
    login = config["auths"][registry.host]
    assert login["username"] == "cr_temp_user"
    assert base64.b64decode(login["auth"]).decode() == f"cr_temp_user:{login['password']}"
    # Attached to the listed accounts, after the entries they had; not to the others.
    wait_until(
        lambda: standin.pull_secrets_of("team-a", "builder") == ["registry-mirror", PULL_SECRET],
        "builder keeps registry-mirror and gets the pull Secret",
        helper.logs,
    )
    wait_until(
        lambda: standin.pull_secrets_of("team-a", "default") == [PULL_SECRET],
        "team-a/default gets it",
        helper.logs,
    )
    assert standin.pull_secrets_of("team-a", "unlisted") == []
    assert standin.dockerconfig("team-b") is None  # not watched

    # A real client pulls with what the Secret holds, and not without it.
    repo = f"{registry.host}/k8s-helper/app:v1"
    pusher = C.Skopeo(tmp_path / "push")
    pusher.login(registry.host, *registry.admin)
    layout = C.make_oci_layout(tmp_path / "layout")
    digest = pusher.copy(layout.oci_ref, f"docker://{repo}")
    puller = C.Skopeo(tmp_path / "pull")
    with pytest.raises(C.ClientError, match="denied"):
        puller.inspect_raw(f"docker://{repo}")
    puller.cfg.authfile.write_text(json.dumps(config))
    assert C._sha256(puller.inspect_raw(f"docker://{repo}")) == digest
    # ... and the whole image, layers included.
    assert puller.copy(f"docker://{repo}", f"oci:{tmp_path / 'pulled'}:v1") == digest


def test_a_service_account_created_later_gets_it(standin: StandIn, helper: Helper) -> None:
    wait_until(lambda: standin.dockerconfig("default"), "the default Secret", helper.logs)
    standin.kubectl("-n", "default", "create", "serviceaccount", "builder")
    wait_until(
        lambda: standin.pull_secrets_of("default", "builder") == [PULL_SECRET],
        "default/builder, created later, gets the pull Secret",
        helper.logs,
    )
    # Someone replaces the list: the helper adds its entry back after theirs.
    standin.kubectl(
        "-n",
        "default",
        "patch",
        "sa",
        "builder",
        "--type",
        "merge",
        "-p",
        '{"imagePullSecrets":[{"name":"team-mirror"}]}',
    )
    wait_until(
        lambda: standin.pull_secrets_of("default", "builder") == ["team-mirror", PULL_SECRET],
        "the entry added back, the other kept",
        helper.logs,
    )
    # A deleted Secret is written again.
    standin.kubectl("-n", "default", "delete", "secret", PULL_SECRET)
    wait_until(lambda: standin.dockerconfig("default"), "the Secret written again", helper.logs)


def region_domains(registry: DockyardServer, region: str = "local") -> list[str]:
    """The enabled endpoint domains of the instances in ``region``."""
    listed = httpx.get(
        f"{registry.url}/api/v1/instances",
        params={"pageSize": 100},
        auth=registry.admin,
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    return sorted(
        endpoint["domain"].lower()
        for instance in listed.json()["items"]
        if instance["region"] == region
        for endpoint in instance["endpoints"]
        if endpoint["enabled"]
    )


def test_a_configmap_change_applies_without_a_restart(
    standin: StandIn, helper: Helper, registry: DockyardServer
) -> None:
    wait_until(lambda: standin.dockerconfig("team-a"), "the team-a Secret", helper.logs)
    pid = helper.proc.pid
    # An invalid change is refused in the log; the helper keeps the last configuration.
    standin.apply(configmap(**{"watch-namespace": "all", "expiring-threshold": "soon"}))
    wait_until(
        lambda: helper.logged("the changed ConfigMap is invalid: keeping the last one"),
        "the invalid change logged",
        helper.logs,
    )
    # Every namespace, every account, every instance of the region (the default instance,
    # reached at the server's own address).
    standin.apply(
        configmap(**{"watch-namespace": "all", "service-account": "*", "acr-registry-info": ""})
    )
    wait_until(lambda: standin.dockerconfig("team-b"), "team-b, now watched", helper.logs)
    auths = list((standin.dockerconfig("team-b") or {})["auths"])
    # The shared server also holds the instances other modules made in the region.
    assert sorted(auths) == sorted({registry.host, *region_domains(registry)})
    wait_until(
        lambda: standin.pull_secrets_of("team-a", "unlisted") == [PULL_SECRET],
        "every account of team-a",
        helper.logs,
    )
    standin.apply(namespace("team-c"))
    wait_until(
        lambda: standin.pull_secrets_of("team-c", "default") == [PULL_SECRET],
        "a namespace created later",
        helper.logs,
    )
    assert helper.proc.poll() is None and helper.proc.pid == pid


def test_credentials_are_renewed_before_they_expire(
    standin: StandIn, helper: Helper, registry: DockyardServer
) -> None:
    """Temporary credentials last an hour: a threshold of 59m55s renews them 5s after they
    were issued, with no other change, and the Secret gets the new ones."""
    wait_until(lambda: standin.dockerconfig("default"), "the default Secret", helper.logs)
    on_server = issued(registry)
    logged = helper.logged("temporary credentials issued")
    changes = helper.logged("configuration changed")
    standin.apply(configmap(**{"watch-namespace": "default", "expiring-threshold": "59m55s"}))

    def password() -> str:
        auths = (standin.dockerconfig("default") or {}).get("auths", {})
        return str(next(iter(auths.values()), {}).get("password", ""))

    wait_until(lambda: helper.logged("temporary credentials issued") > logged, "the change")
    before = password()
    # Two renewals more, from the schedule alone: the configuration did not change again.
    wait_until(
        lambda: helper.logged("temporary credentials issued") >= logged + 3,
        "two scheduled renewals",
        helper.logs,
    )
    assert helper.logged("configuration changed") == changes + 1
    wait_until(lambda: password() not in ("", before), "renewed credentials", helper.logs)
    renewals = [e for e in helper.events() if e["event"] == "temporary credentials issued"]
    assert issued(registry) >= on_server + 3  # the server's audit log agrees
    for event in renewals[logged:]:
        expires = datetime.fromisoformat(event["expires_at"])
        assert datetime.fromisoformat(event["renew_at"]) < expires - timedelta(minutes=59)
    standin.apply(configmap(**{"watch-namespace": "all", "service-account": "*"}))


def test_a_410_gone_watch_relists(standin: StandIn, helper: Helper) -> None:
    wait_until(lambda: standin.dockerconfig("team-a"), "the team-a Secret", helper.logs)
    lists_before = list_calls(standin)
    compacted = standin.http.post("/_standin/compact")
    assert compacted.status_code == 200
    gone_before = helper.logged("watch expired (410 Gone): relisting")
    # A longer bound: in one full run on a busy machine the relists came 30 s after the
    # compaction, together with a ConfigMap change the previous test had made (the cause
    # of that stall is not known; the closing note of 2026-12-08 says so).
    wait_until(
        lambda: helper.logged("watch expired (410 Gone): relisting") >= gone_before + 4,
        "all four informers relist",
        helper.logs,
        bound=3 * WAIT,
    )
    relisted = [e["kind"] for e in helper.events() if e["event"].startswith("watch expired")]
    assert set(relisted[-4:]) == {"Namespace", "ServiceAccount", "Secret", "ConfigMap"}
    assert list_calls(standin) >= lists_before + 4
    # Still watching: a listed account created again gets the Secret again.
    standin.kubectl("-n", "team-a", "delete", "serviceaccount", "builder")
    standin.apply(account("team-a", "builder", "registry-mirror"))
    wait_until(
        lambda: standin.pull_secrets_of("team-a", "builder") == ["registry-mirror", PULL_SECRET],
        "an account created after the relist",
        helper.logs,
    )


def list_calls(standin: StandIn) -> int:
    return sum(
        1
        for r in standin.requests()
        if r["method"] == "GET" and "watch" not in r["query"] and r["path"].count("/") <= 5
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expiring-threshold": "soon"}, "expiring-threshold: not a duration"),
        ({"watch-namespace": " , "}, "watch-namespace: empty"),
        ({"acr-registry-info": "instanceId: x"}, "acr-registry-info: must be a list"),
        ({"acr-registry-info": "- domains: a.example"}, "instanceId is required"),
        ({"acr-registry-info": '- instanceId: "nope"'}, "Dockyard has no instance 'nope'"),
        ({"acr-api-version": "2099-01-01"}, "acr-api-version: '2099-01-01' is not known"),
    ],
    ids=["threshold", "namespace", "not-a-list", "no-instance-id", "unknown-instance", "api"],
)
def test_a_bad_configuration_stops_the_helper_with_a_clear_message(
    registry: DockyardServer,
    access_key: dict[str, Any],
    tmp_path: Path,
    data: dict[str, str],
    message: str,
) -> None:
    cluster = StandIn(tmp_path)
    try:
        cluster.apply(key_secret(access_key))
        cluster.apply(configmap(**data))
        helper = Helper(cluster, registry, tmp_path / "helper.log")
        assert helper.exit_code() == 2, helper.logs()
        errors = [e for e in helper.events() if e.get("event") == "bad configuration: stopping"]
        assert len(errors) == 1 and message in errors[0]["error"], helper.logs()
        assert cluster.dockerconfig("default") is None
    finally:
        cluster.stop()


def test_no_access_key_secret_stops_the_helper(registry: DockyardServer, tmp_path: Path) -> None:
    cluster = StandIn(tmp_path)
    try:
        helper = Helper(cluster, registry, tmp_path / "helper.log")
        assert helper.exit_code() == 2, helper.logs()
        assert "kube-system/dockyard-access-key" in helper.logs()
        cluster.apply(key_secret({"accessKeyId": "LTAIunknown", "accessKeySecret": "wrong"}))
        refused = Helper(cluster, registry, tmp_path / "refused.log")
        assert refused.exit_code() == 2, refused.logs()
        assert "refused the access key LTAIunknown" in refused.logs()
    finally:
        cluster.stop()


def test_the_standin_watch_stream_bookmarks_and_gone(standin: StandIn) -> None:
    """The watch protocol below the clients: events after a resourceVersion, BOOKMARKs when
    asked for, the end at timeoutSeconds, and 410 Gone as the real server sends it (an ERROR
    event with an Expired Status) for a resourceVersion older than the kept history."""
    listed = standin.get("namespaces/kube-system/configmaps")
    assert listed is not None and listed["kind"] == "ConfigMapList"
    version = listed["metadata"]["resourceVersion"]
    standin.kubectl("-n", "kube-system", "create", "configmap", "stream-check")
    params = {
        "watch": "true",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "3",
    }
    resp = standin.http.get("/api/v1/namespaces/kube-system/configmaps", params=params)
    events = [json.loads(line) for line in resp.text.splitlines()]
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "stream-check"
    assert "BOOKMARK" in {e["type"] for e in events[1:]}
    assert standin.http.post("/_standin/compact").status_code == 200
    resp = standin.http.get(
        "/api/v1/namespaces/kube-system/configmaps",
        params={"watch": "true", "resourceVersion": version},
    )
    assert resp.status_code == 200
    (gone,) = [json.loads(line) for line in resp.text.splitlines()]
    assert gone["type"] == "ERROR"
    assert gone["object"]["code"] == 410 and gone["object"]["reason"] == "Expired"


def rbac_rules() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The example manifest's ClusterRole rules and its kube-system Role rules."""
    docs = list(yaml.safe_load_all(MANIFEST.read_text()))
    by_kind = {d["kind"]: d for d in docs}
    return by_kind["ClusterRole"]["rules"], by_kind["Role"]["rules"]


def verb_of(request: dict[str, Any], named: bool) -> str:
    if request["method"] == "GET":
        if named:
            return "get"
        return "watch" if request["query"].get("watch") == "true" else "list"
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[
        request["method"]
    ]


def allows(rule: dict[str, Any], resource: str, verb: str, name: str | None) -> bool:
    return (
        resource in rule["resources"]
        and verb in rule["verbs"]
        and ("resourceNames" not in rule or name in rule["resourceNames"])
    )


def test_the_example_rbac_allows_every_request_the_helper_made(
    standin: StandIn, helper: Helper
) -> None:
    """Every request the helper sent to the stand-in in this module, checked against the
    ClusterRole and kube-system Role of docs/examples/k8s-credential-helper.yaml."""
    wait_until(lambda: standin.dockerconfig("default"), "the default Secret", helper.logs)
    cluster_rules, system_rules = rbac_rules()
    made = [
        r
        for r in standin.requests()
        if not r["agent"].startswith(("kubectl", TESTS_AGENT)) and r["path"].startswith("/api/v1/")
    ]
    assert {r["method"] for r in made} >= {"GET", "POST", "PATCH"}
    refused = []
    for request in made:
        parts = request["path"].split("/")[3:]
        namespace = parts[1] if parts[0] == "namespaces" and len(parts) > 2 else None
        rest = parts[2:] if namespace else parts
        resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
        verb = verb_of(request, name is not None)

        in_system = namespace == "kube-system" and any(
            allows(r, resource, verb, name) for r in system_rules
        )
        if not in_system and not any(allows(r, resource, verb, name) for r in cluster_rules):
            refused.append(f"{verb} {request['path']}")
    assert refused == []
