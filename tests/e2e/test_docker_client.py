"""Docker as a real client: Debian's docker.io 20.10 (``/usr/bin/docker`` and ``dockerd``).

One private daemon for the session (tests/e2e/docker.py), reaching the shared server on
127.0.0.1, which docker treats as an insecure (plain HTTP) registry by default. Images are
built ``FROM scratch`` with the static busybox by the classic builder (no network).

* ``docker login`` with a registry password, and with temporary credentials; ``docker
  build`` + ``push``; ``docker pull`` after the image was removed; ``docker manifest
  inspect``; the immutable-repository refusal and a refused pull as docker prints them.
* ``docker-credential-dockyard`` in ``credHelpers``: push and pull with no ``docker login``
  and no password in the config; ``docker logout`` runs its ``erase``; ``docker login`` to
  such a registry is refused by its ``store``; without an access key docker goes on
  anonymously (it ignores the helper's failure) and the registry refuses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.conftest import ApiClient, add_user, sign_in, unique
from tests.conftest import DockyardServer
from tests.e2e.access_keys import issued, key_env, made_access_key
from tests.e2e.clients import ClientError, run
from tests.e2e.docker import Docker, DockerDaemon, busybox_context

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

PASSWORD = "Docker-console-1"
REGISTRY_PASSWORD = "Docker-registry-1"
IMMUTABLE = "The requested tag already exists and cannot be overwritten."
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerDaemon]:
    with DockerDaemon(tmp_path_factory.mktemp("dockerd")) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def admin(registry: DockyardServer) -> Iterator[ApiClient]:
    client = ApiClient(registry, token=sign_in(registry, *registry.admin))
    yield client
    client.close()


@pytest.fixture(scope="module")
def pusher(registry: DockyardServer, admin: ApiClient) -> str:
    """A user allowed everything, whose registry password is set through the API."""
    name = unique("docker")
    add_user(registry, name, PASSWORD, "AliyunContainerRegistryFullAccess")
    body = {"password": REGISTRY_PASSWORD, "confirm": REGISTRY_PASSWORD}
    admin.ok(admin.request("PUT", f"/users/{name}/registry-password", json=body), 204)
    return name


@pytest.fixture
def docker(dockerd: DockerDaemon, tmp_path: Path) -> Docker:
    return Docker(dockerd, tmp_path / "docker-config")


def built(docker: Docker, tmp_path: Path, ref: str) -> str:
    """``docker build`` of a new image (its own stamp) tagged ``ref``."""
    stamp = unique("stamp")
    docker.build(busybox_context(tmp_path / stamp, stamp), ref)
    return ref


def pulled_again(docker: Docker, ref: str) -> str:
    """Remove the local image, pull it back: the digest docker pulled."""
    docker.remove_image(ref)
    return docker.pull(ref)


def test_login_with_a_registry_password_build_push_pull_inspect(
    registry: DockyardServer, pusher: str, docker: Docker, tmp_path: Path
) -> None:
    with pytest.raises(ClientError) as wrong:
        docker.login(registry.host, pusher, PASSWORD)  # the console password is not it
    assert "unauthorized" in wrong.value.stderr.lower()
    assert "Login Succeeded" in docker.login(registry.host, pusher, REGISTRY_PASSWORD)
    assert registry.host in docker.config["auths"]

    ref = built(docker, tmp_path, f"{registry.host}/{unique('dk')}/app:v1")
    pushed = docker.push(ref)
    assert pulled_again(docker, ref) == pushed
    [repo_digest] = json.loads(docker("image", "inspect", ref).stdout)[0]["RepoDigests"]
    assert repo_digest == f"{ref.removesuffix(':v1')}@{pushed}"

    inspected = json.loads(docker("manifest", "inspect", "--insecure", ref).stdout)
    assert inspected["mediaType"] == MANIFEST_V2
    assert len(inspected["layers"]) == 2  # busybox and the stamp
    verbose = json.loads(docker("manifest", "inspect", "--insecure", "--verbose", ref).stdout)
    assert verbose["Descriptor"]["digest"] == pushed

    docker("logout", registry.host)
    with pytest.raises(ClientError) as anonymous:
        pulled_again(docker, ref)
    assert "pull access denied" in anonymous.value.stderr


def test_login_with_temporary_credentials(
    registry: DockyardServer, pusher: str, docker: Docker, tmp_path: Path
) -> None:
    me = ApiClient(registry, token=sign_in(registry, pusher, PASSWORD))
    try:
        temporary = me.ok(me.post("/auth/authorization-token"))
    finally:
        me.close()
    assert temporary["tempUsername"] == "cr_temp_user"
    login = docker.login(registry.host, "cr_temp_user", temporary["authorizationToken"])
    assert "Login Succeeded" in login
    ref = built(docker, tmp_path, f"{registry.host}/{unique('tmp')}/app:v1")
    pushed = docker.push(ref)
    assert pulled_again(docker, ref) == pushed
    with pytest.raises(ClientError) as forged:
        docker.login(registry.host, "cr_temp_user", temporary["authorizationToken"] + "x")
    assert "unauthorized" in forged.value.stderr.lower()


def test_an_immutable_tag_is_refused_with_dockyards_message(
    registry: DockyardServer, admin: ApiClient, pusher: str, docker: Docker, tmp_path: Path
) -> None:
    namespace = unique("imm")
    admin.create_namespace("default", namespace)
    admin.create_repository("default", namespace, "app", tagMutability="Immutable")
    docker.login(registry.host, pusher, REGISTRY_PASSWORD)
    ref = f"{registry.host}/{namespace}/app:v1"
    first = docker.push(built(docker, tmp_path, ref))
    with pytest.raises(ClientError) as refused:
        docker.push(built(docker, tmp_path, ref))  # another image under the same tag
    assert refused.value.stderr.strip() == f"denied: {IMMUTABLE}"
    # The tag still names the first image.
    docker.remove_image(ref)
    assert docker.pull(ref) == first


def user_without_permissions(admin: ApiClient) -> str:
    """A user made through ``POST /users`` with no role: signed in, allowed nothing."""
    organizations = admin.ok(admin.get("/organizations", params={"pageSize": 100}))["items"]
    [root] = [o["id"] for o in organizations if o.get("parentId") is None]
    name = unique("nobody")
    body: dict[str, Any] = {
        "username": name,
        "displayName": name,
        "organizationId": root,
        "email": f"{name}@example.com",
        "phone": "+86-13800000000",
        "password": PASSWORD,
    }
    admin.ok(admin.post("/users", json=body), 201)
    password = {"password": REGISTRY_PASSWORD, "confirm": REGISTRY_PASSWORD}
    admin.ok(admin.request("PUT", f"/users/{name}/registry-password", json=password), 204)
    return name


def test_a_refused_pull_as_docker_prints_it(
    registry: DockyardServer,
    admin: ApiClient,
    pusher: str,
    dockerd: DockerDaemon,
    tmp_path: Path,
) -> None:
    owner = Docker(dockerd, tmp_path / "owner")
    owner.login(registry.host, pusher, REGISTRY_PASSWORD)
    ref = built(owner, tmp_path, f"{registry.host}/{unique('priv')}/app:v1")
    owner.push(ref)
    owner.remove_image(ref)

    nobody = Docker(dockerd, tmp_path / "nobody")
    assert "Login Succeeded" in nobody.login(
        registry.host, user_without_permissions(admin), REGISTRY_PASSWORD
    )
    with pytest.raises(ClientError) as refused:
        nobody.pull(ref)
    assert refused.value.stderr.strip() == (
        f"Error response from daemon: pull access denied for {ref.removesuffix(':v1')}, "
        "repository does not exist or may require 'docker login': "
        "denied: requested access to the resource is denied"
    )


@pytest.fixture(scope="module")
def access_key(registry: DockyardServer) -> Iterator[dict[str, Any]]:
    yield from made_access_key(registry, "docker credential helper")


def test_credential_helper_push_and_pull_without_docker_login(
    registry: DockyardServer,
    access_key: dict[str, Any],
    dockerd: DockerDaemon,
    tmp_path: Path,
) -> None:
    env = {**key_env(access_key), "DOCKYARD_CREDENTIAL_CACHE_DIR": str(tmp_path / "cache")}
    docker = Docker(dockerd, tmp_path / "helper-config", env)
    docker.write_config({"credHelpers": {registry.host: "dockyard"}})
    before = issued(registry)

    ref = built(docker, tmp_path, f"{registry.host}/{unique('helper')}/app:v1")
    pushed = docker.push(ref)
    assert pulled_again(docker, ref) == pushed
    # Temporary credentials were issued for the access key, once: the helper's cache.
    assert issued(registry) == before + 1
    # No password, no token, nothing but the helper's name in docker's config.
    assert docker.config == {"credHelpers": {registry.host: "dockyard"}}
    # `docker logout` runs the helper's erase: the cached credentials are gone.
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    docker("logout", registry.host)
    assert list((tmp_path / "cache").glob("*.json")) == []

    # `docker login` to a registry the helper answers for: the password is right, but the
    # helper's store refuses to keep it, saying why.
    with pytest.raises(ClientError) as login:
        docker.login(registry.host, *registry.admin)
    assert "docker-credential-dockyard keeps no passwords" in login.value.stderr
    assert registry.admin_password not in login.value.stderr
    # (docker logout wrote an empty "auths"; nothing else was kept.)
    assert docker.config == {"auths": {}, "credHelpers": {registry.host: "dockyard"}}

    # The same helper without an access key: docker 20.10 ignores a helper's failure when it
    # pulls (it goes on without credentials), so the registry's refusal is what it shows;
    # the helper run by hand says why.
    no_variables = {"DOCKYARD_ACCESS_KEY_ID": "", "DOCKYARD_ACCESS_KEY_FILE": ""}
    keyless = Docker(dockerd, tmp_path / "keyless-config", no_variables)
    keyless.write_config({"credHelpers": {registry.host: "dockyard"}})
    with pytest.raises(ClientError) as no_key:
        keyless.pull(ref)
    assert "pull access denied" in no_key.value.stderr
    helper = Path(sys.executable).parent / "docker-credential-dockyard"
    with pytest.raises(ClientError) as by_hand:
        run([helper, "get"], input=registry.host, env=keyless.env)
    assert by_hand.value.stdout.startswith("no access key: set DOCKYARD_ACCESS_KEY_FILE")
