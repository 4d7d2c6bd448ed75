"""The edition rule on OCI artifacts, with real clients (PRODUCT.md §1).

One server holds the default instance (Advanced, reached as ``127.0.0.1:PORT``) and a
Standard one whose endpoint domain is ``localhost`` (reached as ``localhost:PORT``). The
oras SDK and the real ``helm`` v3.17 (from the kubectl layer that
``scripts/install-test-deps`` unpacks into ``/opt/kubectl-v29``) push a Helm chart to
each; skopeo pushes an image to the Standard one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.e2e import clients as C

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

HELM = Path(os.environ.get("DOCKYARD_TEST_HELM", "/opt/kubectl-v29/helm/helm"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    with DockyardServer(tmp_path_factory.mktemp("edition-artifacts"), workers=1) as server:
        created = httpx.post(
            f"{server.url}/api/v1/instances",
            auth=server.admin,
            json={
                "name": "std",
                "region": "local",
                "edition": "Standard",
                "endpoints": [{"networkType": "vpc", "domain": "localhost"}],
            },
            timeout=60,
        )
        assert created.status_code == 201, created.text
        yield server


def _standard_host(server: DockyardServer) -> str:
    return f"localhost:{server.port}"


def _oras_recording_failures(
    server: DockyardServer, host: str, workdir: Path
) -> tuple[Any, list[Any]]:
    """An oras client whose refused requests are kept: the SDK logs the registry's message
    and raises a bare ``ValueError``, so the answer itself is read from the recorded one."""
    client = C.oras_client(host, *server.admin, workdir=workdir, auth_backend="basic")
    failures: list[Any] = []
    check = client._check_200_response

    def recording(response: Any) -> None:
        if response.status_code >= 400:
            failures.append(response)
        check(response)

    client._check_200_response = recording
    return client, failures


def _chart(tmp_path: Path) -> Path:
    chart = tmp_path / "mychart-0.1.0.tgz"
    chart.write_bytes(b"\x1f\x8b" + b"chart-bytes" * 100)
    return chart


def test_oras_helm_chart_is_refused_on_standard(server: DockyardServer, tmp_path: Path) -> None:
    host = _standard_host(server)
    oras, failures = _oras_recording_failures(server, host, tmp_path / "oras")
    with pytest.raises(ValueError, match="manifests"):
        C.oras_push_helm_chart(oras, f"{host}/charts/mychart:0.1.0", _chart(tmp_path))
    (refused,) = failures
    assert refused.request.method == "PUT" and refused.status_code == 403
    (error,) = refused.json()["errors"]
    assert error["code"] == "DENIED"
    assert "Advanced edition" in error["message"] and "is Standard" in error["message"]
    # Nothing was tagged.
    tags = httpx.get(
        f"http://{host}/v2/charts/mychart/tags/list", auth=server.admin, timeout=30
    ).json()
    assert tags["tags"] == []


def test_oras_helm_chart_pushes_to_advanced(server: DockyardServer, tmp_path: Path) -> None:
    oras, failures = _oras_recording_failures(server, server.host, tmp_path / "oras")
    chart = _chart(tmp_path)
    response = C.oras_push_helm_chart(oras, f"{server.host}/charts/mychart:0.1.0", chart)
    assert response.status_code == 201 and failures == []
    files = C.oras_pull(oras, f"{server.host}/charts/mychart:0.1.0", tmp_path / "out")
    assert Path(files[0]).read_bytes() == chart.read_bytes()


def test_skopeo_image_pushes_to_standard(server: DockyardServer, tmp_path: Path) -> None:
    info = C.make_oci_layout(tmp_path / "layout", platforms=["linux/amd64", "linux/arm64"])
    ref = f"docker://{_standard_host(server)}/images/app:v1"
    sk = C.Skopeo(tmp_path / "sk")
    assert sk.copy(info.oci_ref, ref, all=True, dest_creds=server.admin) == info.digest
    assert sk.inspect_raw(ref, creds=server.admin) == info.index_bytes


class Helm:
    """The real helm CLI with its own configuration, cache and registry login files."""

    def __init__(self, home: Path) -> None:
        self.cwd = home
        self.env = {
            **os.environ,
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        home.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HELM), *args],
            cwd=self.cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self(*args, stdin=stdin)
        assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
        return done.stdout + done.stderr

    def packaged_chart(self) -> Path:
        """``helm create`` + ``helm package``: a real chart archive, mychart-0.1.0.tgz."""
        self.ok("create", "mychart")
        self.ok("package", "mychart")
        return self.cwd / "mychart-0.1.0.tgz"

    def login(self, host: str, server: DockyardServer) -> None:
        user, password = server.admin
        out = self.ok(
            "registry",
            "login",
            host,
            "--username",
            user,
            "--password-stdin",
            "--insecure",
            stdin=password,
        )
        assert "Login Succeeded" in out


def test_helm_pushes_pulls_and_shows_a_chart_on_advanced(
    server: DockyardServer, tmp_path: Path
) -> None:
    helm = Helm(tmp_path / "helm")
    chart = helm.packaged_chart()
    helm.login(server.host, server)
    pushed = helm.ok("push", str(chart), f"oci://{server.host}/helm", "--plain-http")
    assert f"Pushed: {server.host}/helm/mychart:0.1.0" in pushed
    ref = f"oci://{server.host}/helm/mychart"
    shown = helm.ok("show", "chart", ref, "--version", "0.1.0", "--plain-http")
    assert "name: mychart" in shown and "version: 0.1.0" in shown
    out = tmp_path / "pulled"
    out.mkdir()  # helm writes into it, but does not make it
    helm.ok("pull", ref, "--version", "0.1.0", "--plain-http", "-d", str(out))
    assert (out / "mychart-0.1.0.tgz").read_bytes() == chart.read_bytes()
    # Dockyard stored it as the Helm chart artifact it is.
    manifest = httpx.get(
        f"{server.url}/v2/helm/mychart/manifests/0.1.0",
        auth=server.admin,
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=30,
    ).json()
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.helm.config.v1+json"


def test_helm_push_is_refused_on_standard(server: DockyardServer, tmp_path: Path) -> None:
    helm = Helm(tmp_path / "helm")
    chart = helm.packaged_chart()
    host = _standard_host(server)
    helm.login(host, server)
    refused = helm("push", str(chart), f"oci://{host}/helm", "--plain-http")
    # helm prints the status, not the registry's message (the oras test above reads that).
    assert refused.returncode != 0
    assert "PUT request" in refused.stderr and "403 Forbidden" in refused.stderr
    tags = httpx.get(
        f"http://{host}/v2/helm/mychart/tags/list", auth=server.admin, timeout=30
    ).json()
    assert tags["tags"] == []
