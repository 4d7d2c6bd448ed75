"""Dockyard's own image: the repository's Containerfile built with buildah, pushed to a
Dockyard under test, pulled back and run with podman, serving a real push and pull.

No registry with a ``python:3.11-slim`` is reachable here, so the base image is a Debian
bookworm root filesystem made by ``mmdebstrap --variant=minbase`` (python3 is 3.11) and
imported into buildah; the Containerfile takes it as ``--build-arg BASE``. Dockyard's
Python dependencies come from PyPI during the build, as they would for a user.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import DockyardServer
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient

pytestmark = [pytest.mark.e2e, pytest.mark.clients, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/dockyard-test-base:bookworm"
#: The host's CA bundle: pip in the build trusts what the host trusts (a TLS-inspecting
#: proxy between the machine and PyPI included).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_TIMEOUT = 900.0
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


class RunningPodman(C.Podman):
    """Podman that also runs a detached container and its image's health check."""

    def run_detached(self, image: str, *args: str) -> str:
        """``podman run -d --network host ARGS IMAGE`` -> container ID."""
        return self._run("run", "-d", "--network", "host", *args, image).stdout.strip()

    def healthy(self, container: str) -> bool:
        """Run the image's HEALTHCHECK once (there is no systemd timer to run it here)."""
        try:
            self._run("healthcheck", "run", container)
        except C.ClientError:
            return False
        return True

    def inspect_container(self, container: str) -> dict[str, Any]:
        return json.loads(self._run("container", "inspect", container).stdout)[0]

    def exec(self, container: str, *cmd: str) -> str:
        return self._run("exec", container, *cmd).stdout

    def logs(self, container: str) -> str:
        out = self._run("logs", container)
        return out.stdout + out.stderr

    def remove(self, container: str) -> None:
        self._run("rm", "--force", "--time", "10", container)


@dataclass(frozen=True)
class Endpoint:
    """A Dockyard the tests reach on ``host`` with the administrator ``admin``."""

    host: str
    admin: tuple[str, str]

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@dataclass(frozen=True)
class PushedImage:
    ref: str  # host:port/namespace/repository:tag in the Dockyard under test
    digest: str


@pytest.fixture(scope="module")
def debian_base_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bookworm minbase root filesystem with python3 and its venv module (built once)."""
    out = tmp_path_factory.mktemp("mmdebstrap") / "rootfs.tar"
    C.run(
        [
            C.require("mmdebstrap"),
            "--quiet",
            "--variant=minbase",
            "--include=python3,python3-venv",
            # No fsync: the tarball is thrown away with the test run (halves the time).
            "--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata",
            "--dpkgopt=force-unsafe-io",
            # Smaller layers to copy, compress, push and pull: no locales, no documentation.
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "bookworm",
            str(out),
        ],
        timeout=BUILD_TIMEOUT,
    )
    return out


@pytest.fixture(scope="module")
def pushed_image(
    registry: DockyardServer, debian_base_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> PushedImage:
    """The Containerfile built on the imported base and pushed to Dockyard with buildah."""
    work = tmp_path_factory.mktemp("image-build")
    buildah = C.Buildah(work / "buildah", timeout=BUILD_TIMEOUT)
    base_context = work / "base"
    base_context.mkdir()
    debian_base_rootfs.rename(base_context / "rootfs.tar")
    buildah.build(
        base_context,
        BASE_IMAGE,
        containerfile='FROM scratch\nADD rootfs.tar /\nCMD ["python3"]\n',
        format="docker",
    )
    pip_conf = work / "pip.conf"
    pip_conf.write_text("[global]\ncert = /etc/ssl/certs/host-ca.crt\n")
    buildah.build(
        REPO_ROOT,
        "localhost/dockyard:under-test",
        # Docker format: the OCI image config has no HEALTHCHECK.
        format="docker",
        extra=[
            "--file",
            str(REPO_ROOT / "Containerfile"),
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            # The image the credential-helper controller runs in (docs/kubernetes.md).
            "--build-arg",
            "EXTRAS=kubernetes",
            # Build-time mounts only: neither file ends up in the image.
            "--volume",
            f"{pip_conf}:/etc/pip.conf:ro",
            "--volume",
            f"{HOST_CA_BUNDLE}:/etc/ssl/certs/host-ca.crt:ro",
        ],
    )
    ref = f"{registry.host}/packaging-{secrets.token_hex(3)}/dockyard:under-test"
    digest = buildah.push("localhost/dockyard:under-test", ref, creds=registry.admin)
    return PushedImage(ref=ref, digest=digest)


@pytest.fixture(scope="module")
def image_config(client: RegistryClient, pushed_image: PushedImage) -> dict[str, Any]:
    """The image's config blob, read back from Dockyard."""
    name, _, tag = pushed_image.ref.partition("/")[2].rpartition(":")
    manifest = client.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": DOCKER_MANIFEST})
    assert manifest.status_code == 200, manifest.text
    config = client.get_blob(name, manifest.json()["config"]["digest"])
    assert config.status_code == 200, config.text
    body: dict[str, Any] = config.json()["config"]
    return body


def test_image_runs_dockyard_serve_as_non_root_with_a_data_volume(
    image_config: dict[str, Any],
) -> None:
    assert image_config["User"] == "10001:10001"
    assert image_config["Entrypoint"] == ["dockyard", "serve"]
    assert not image_config.get("Cmd")
    assert list(image_config["Volumes"]) == ["/data"]
    assert list(image_config["ExposedPorts"]) == ["5000/tcp"]
    env = dict(item.split("=", 1) for item in image_config["Env"])
    assert env["DOCKYARD_DATA_DIR"] == "/data"
    assert env["DOCKYARD_LISTEN"] == "0.0.0.0:5000"
    assert "/healthz" in " ".join(image_config["Healthcheck"]["Test"])


@pytest.fixture(scope="module")
def running_dockyard(
    registry: DockyardServer, pushed_image: PushedImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningPodman, str, Endpoint]]:
    """The image pulled from Dockyard and run with podman: a read-only root, /data a volume.

    Yields the podman, the container ID and the Dockyard inside.
    """
    port = C.free_port()
    password = "pw-" + secrets.token_urlsafe(12)
    with RunningPodman(tmp_path_factory.mktemp("podman-run"), timeout=BUILD_TIMEOUT) as podman:
        podman.pull(pushed_image.ref, creds=registry.admin)
        assert podman.image_digest(pushed_image.ref) == pushed_image.digest
        container = podman.run_detached(
            pushed_image.ref,
            "--read-only",
            "--volume",
            "dockyard-data:/data",
            "--env",
            f"DOCKYARD_LISTEN=127.0.0.1:{port}",
            "--env",
            f"DOCKYARD_ADMIN_PASSWORD={password}",
            "--env",
            "DOCKYARD_WORKERS=1",
        )
        try:
            deadline = time.monotonic() + 180
            while not podman.healthy(container):
                state = podman.inspect_container(container)["State"]
                assert state["Running"], f"container exited:\n{podman.logs(container)}"
                assert time.monotonic() < deadline, f"never healthy:\n{podman.logs(container)}"
                time.sleep(1)
            yield podman, container, Endpoint(f"127.0.0.1:{port}", ("admin", password))
        finally:
            podman.remove(container)


def test_container_from_dockyard_is_healthy_and_non_root(
    running_dockyard: tuple[RunningPodman, str, Endpoint],
) -> None:
    podman, container, inside = running_dockyard
    assert podman.inspect_container(container)["State"]["Health"]["Status"] == "healthy"
    assert podman.exec(container, "id", "-u").strip() == "10001"
    assert httpx.get(f"{inside.url}/readyz").json() == {"status": "ready"}
    # Package data made it into the installed wheel: the console's static files are served.
    assert httpx.get(f"{inside.url}/console/static/console.css").status_code == 200
    # The embedded default landed in the /data volume, not the read-only root.
    assert "dockyard.db" in podman.exec(container, "ls", "/data").split()
    # The extra asked for at build time is there: the controller can run from this image.
    podman.exec(container, "python3", "-c", "import lightkube")


def test_containerized_dockyard_serves_a_push_and_a_pull(
    running_dockyard: tuple[RunningPodman, str, Endpoint], tmp_path: Path
) -> None:
    _, _, inside = running_dockyard
    skopeo = C.Skopeo(tmp_path / "skopeo")
    info = C.make_oci_layout(tmp_path / "layout", layer_size=512 * 1024)
    ref = f"docker://{inside.host}/packaged/app:v1"
    assert skopeo.copy(info.oci_ref, ref, dest_creds=inside.admin) == info.digest
    back = skopeo.copy(ref, f"oci:{tmp_path / 'back'}:v1", src_creds=inside.admin)
    assert back == info.digest
    for blob in info.blobs():
        pulled = tmp_path / "back" / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        assert C._sha256(pulled.read_bytes()) == blob.digest
