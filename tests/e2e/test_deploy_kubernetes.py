"""deploy/kubernetes: the kustomize base and the postgres-s3 overlay, rendered by the real
``kubectl kustomize`` (v1.29), valid against the Kubernetes 1.29 schemas, and agreeing with
what Dockyard serves (probe paths, on a running server) and reads (settings' env names).

No Kubernetes cluster runs here: nothing is applied; the schemas are kubernetes-validate's
bundled copies (strict: an unknown field fails).
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from tests.conftest import DockyardServer

from dockyard.settings import Settings

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZATIONS = {
    "base": REPO_ROOT / "deploy" / "kubernetes" / "base",
    "postgres-s3": REPO_ROOT / "deploy" / "kubernetes" / "overlays" / "postgres-s3",
}
#: Installed by scripts/install-test-deps; never /usr/bin/kubectl (another kubectl).
KUBECTL = Path("/opt/kubectl-v29/kubectl/kubectl")
KUBERNETES_VERSION = "1.29"


def _render(name: str) -> list[dict[str, Any]]:
    assert KUBECTL.exists(), f"{KUBECTL} is missing: run scripts/install-test-deps as root"
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(KUSTOMIZATIONS[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, _render(request.param)


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _settings_env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """DOCKYARD_* name -> its env entry (``value``/``valueFrom``), ConfigMap ones included."""
    container = _container(docs)
    env = {item["name"]: item for item in container.get("env", [])}
    config_maps = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "ConfigMap"}
    for source in container.get("envFrom", []):
        data = config_maps[source["configMapRef"]["name"]]["data"]
        env.update({name: {"name": name, "value": value} for name, value in data.items()})
    return env


def test_every_rendered_document_is_valid_for_kubernetes_1_29(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    name, docs = rendered
    kinds = sorted(doc["kind"] for doc in docs)
    if name == "base":
        assert kinds == ["Deployment", "PersistentVolumeClaim", "Service"]
    else:
        assert kinds == ["ConfigMap", "Deployment", "Service"]
    for doc in docs:
        validated = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert validated == KUBERNETES_VERSION


def test_probes_are_paths_dockyard_serves(
    rendered: tuple[str, list[dict[str, Any]]], registry: DockyardServer
) -> None:
    container = _container(rendered[1])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    port_names = {port["name"] for port in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        check = container[probe]["httpGet"]
        assert check["port"] in port_names
        answer = httpx.get(f"{registry.url}{check['path']}", timeout=10)
        assert answer.status_code == 200, (probe, answer.text)


def test_ports_match_the_listen_setting_and_the_image(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    docs = rendered[1]
    container = _container(docs)
    listen = Settings(listen=_settings_env(docs)["DOCKYARD_LISTEN"]["value"])
    assert ipaddress.ip_address(listen.host).is_unspecified  # reachable from the kubelet
    (port,) = container["ports"]
    assert port["containerPort"] == listen.port
    exposed = re.search(r"^EXPOSE (\d+)$", (REPO_ROOT / "Containerfile").read_text(), re.M)
    assert exposed is not None and int(exposed.group(1)) == listen.port
    service = _one(docs, "Service")
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    pod_labels = _one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_env_names_are_dockyard_settings(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    env = _settings_env(rendered[1])
    literal = {}
    for name, entry in env.items():
        assert name.startswith("DOCKYARD_"), name
        field = name.removeprefix("DOCKYARD_").lower()
        assert field in Settings.model_fields, f"{name} is not a Dockyard setting"
        if "value" in entry:
            literal[field] = entry["value"]
    Settings.model_validate(literal)  # every literal value is one the setting accepts
    assert "secretKeyRef" in env["DOCKYARD_ADMIN_PASSWORD"]["valueFrom"]


def test_pod_runs_as_the_images_non_root_user(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    pod = _one(rendered[1], "Deployment")["spec"]["template"]["spec"]
    user = re.search(r"^USER (\d+):(\d+)$", (REPO_ROOT / "Containerfile").read_text(), re.M)
    assert user is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(user.group(1))
    assert pod["securityContext"]["runAsGroup"] == int(user.group(2))
    assert _container(rendered[1])["securityContext"]["allowPrivilegeEscalation"] is False


def test_base_keeps_the_embedded_default_on_a_claim() -> None:
    docs = _render("base")
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # one SQLite writer
    data_dir = _settings_env(docs)["DOCKYARD_DATA_DIR"]["value"]
    (mount,) = [m for m in _container(docs)["volumeMounts"] if m["mountPath"] == data_dir]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim == _one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    assert "DOCKYARD_DATABASE_URL" not in _settings_env(docs)


def test_postgres_s3_overlay_runs_replicas_on_shared_backends_from_a_secret() -> None:
    docs = _render("postgres-s3")
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] > 1
    env = _settings_env(docs)
    for name in (
        "DOCKYARD_DATABASE_URL",
        "DOCKYARD_S3_ACCESS_KEY_ID",
        "DOCKYARD_S3_SECRET_ACCESS_KEY",
        "DOCKYARD_SECRET_KEY",  # one master key for every replica
    ):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "dockyard-backends", name
    assert Settings(storage=env["DOCKYARD_STORAGE"]["value"]).storage is not None
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert not [v for v in volumes if "persistentVolumeClaim" in v]
