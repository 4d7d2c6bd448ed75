"""``docker-credential-dockyard``, run as docker runs it: the installed console script as a
subprocess with the verb as its argument, the input on stdin, the answer (or the failure's
message, exit 1) on stdout, against a real server.

Which registries it answers for comes from a docker config (``credHelpers`` in
``$DOCKER_CONFIG/config.json``) or ``DOCKYARD_REGISTRIES``; the server's audit log counts the
temporary credentials issued, so the cache and the refusals to sign in elsewhere are proven
on the server's side. The journeys with the real docker client are in test_docker_client.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DockyardServer, free_port
from tests.e2e.access_keys import admin_api, issued, key_env, made_access_key, pulls_with

from dockyard.integrations.temporary_logins import LoginCache

pytestmark = pytest.mark.e2e

HELPER = Path(sys.executable).parent / "docker-credential-dockyard"
NOT_FOUND = "credentials not found in native keychain"


@pytest.fixture(scope="module")
def access_key(registry: DockyardServer) -> Iterator[dict[str, Any]]:
    yield from made_access_key(registry, "docker")


def docker_config(directory: Path, helpers: dict[str, str]) -> Path:
    """A ``DOCKER_CONFIG`` directory whose ``config.json`` has these ``credHelpers``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"credHelpers": helpers}))
    return directory


def helper(
    verb: str, stdin: str, *, env: dict[str, str], expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run the helper once, with only the environment given (and no DOCKYARD_ variables)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "DOCKER_"))}
    done = subprocess.run(
        [str(HELPER), verb],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def env(registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """The access key, a private cache, and a docker config mapping the server to the helper
    (and another registry to another helper)."""
    config = docker_config(tmp_path / "docker", {registry.host: "dockyard", "ghcr.io": "desktop"})
    return {
        **key_env(access_key),
        "DOCKER_CONFIG": str(config),
        "DOCKYARD_CREDENTIAL_CACHE_DIR": str(tmp_path / "cache"),
    }


def cache_file(registry: DockyardServer, env: dict[str, str], key: dict[str, Any]) -> Path:
    cache = LoginCache(Path(env["DOCKYARD_CREDENTIAL_CACHE_DIR"]))
    return cache.path_for(registry.url, key["accessKeyId"])


def test_get_hands_out_cached_temporary_credentials(
    registry: DockyardServer, access_key: dict[str, Any], env: dict[str, str]
) -> None:
    before = issued(registry)
    done = helper("get", f"{registry.host}\n", env=env)
    found = json.loads(done.stdout)
    assert found["ServerURL"] == registry.host
    assert found["Username"] == "cr_temp_user"
    assert pulls_with(registry, found["Username"], found["Secret"]) == 200
    assert pulls_with(registry, found["Username"], found["Secret"] + "x") == 401
    assert issued(registry) == before + 1
    cached = cache_file(registry, env, access_key)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert access_key["accessKeySecret"] not in cached.read_text()

    # Again, and with the scheme some clients send: the cached credentials, no new sign-in.
    again = json.loads(helper("get", registry.url, env=env).stdout)
    assert again["ServerURL"] == registry.url
    assert again["Secret"] == found["Secret"]
    assert issued(registry) == before + 1


def test_unknown_registries_are_not_found_and_never_see_the_key(
    registry: DockyardServer, env: dict[str, str], tmp_path: Path
) -> None:
    nothing_there = f"127.0.0.1:{free_port()}"
    before = issued(registry)
    for server_url in (
        "https://index.docker.io/v1/",  # Docker Hub
        "ghcr.io",  # mapped to another helper
        "dockyard.example.com",  # not mapped at all
    ):
        done = helper("get", server_url, env=env, expect=1)
        assert done.stdout.strip() == NOT_FOUND, server_url
    # Mapped to the helper, but no Dockyard answers there.
    docker_config(Path(env["DOCKER_CONFIG"]), {nothing_there: "dockyard"})
    done = helper("get", nothing_there, env=env, expect=1)
    assert done.stdout.strip() == NOT_FOUND
    assert "no credentials" in done.stderr
    assert helper("get", "", env=env, expect=1).stdout.strip() == "no credentials server URL"
    assert issued(registry) == before
    assert not (tmp_path / "cache").exists()


def test_dockyard_registries_replaces_the_docker_config(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path
) -> None:
    """For ``credsStore`` (docker asks about every registry) or ``docker --config``."""
    key_file = tmp_path / "access-key.json"
    key_file.write_text(json.dumps(access_key))
    env = {
        "DOCKYARD_ACCESS_KEY_FILE": str(key_file),
        "DOCKYARD_REGISTRIES": f"dockyard.example.com, {registry.host}",
        "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {"ghcr.io": "dockyard"})),
        "DOCKYARD_CREDENTIAL_CACHE_DIR": str(tmp_path / "cache"),
    }
    found = json.loads(helper("get", registry.host, env=env).stdout)
    assert pulls_with(registry, found["Username"], found["Secret"]) == 200
    assert helper("get", "ghcr.io", env=env, expect=1).stdout.strip() == NOT_FOUND
    listed = json.loads(helper("list", "", env=env).stdout)
    assert listed == {
        "dockyard.example.com": access_key["accessKeyId"],
        registry.host: access_key["accessKeyId"],
    }


def test_list_names_the_registries_mapped_to_the_helper(
    registry: DockyardServer, access_key: dict[str, Any], env: dict[str, str]
) -> None:
    listed = json.loads(helper("list", "", env=env).stdout)
    assert listed == {registry.host: access_key["accessKeyId"]}


def test_store_keeps_no_password(
    registry: DockyardServer, access_key: dict[str, Any], env: dict[str, str]
) -> None:
    payload = {"ServerURL": registry.host, "Username": "admin", "Secret": "a-long-lived-pw"}
    done = helper("store", json.dumps(payload), env=env, expect=1)
    assert done.stdout.startswith("docker-credential-dockyard keeps no passwords")
    assert f"remove {registry.host} from credHelpers" in done.stdout
    assert "a-long-lived-pw" not in done.stdout
    assert not cache_file(registry, env, access_key).exists()
    config = (Path(env["DOCKER_CONFIG"]) / "config.json").read_text()
    assert "a-long-lived-pw" not in config


def test_erase_forgets_the_cached_credentials(
    registry: DockyardServer, access_key: dict[str, Any], env: dict[str, str]
) -> None:
    first = json.loads(helper("get", registry.host, env=env).stdout)
    cached = cache_file(registry, env, access_key)
    assert cached.exists()
    done = helper("erase", registry.host, env=env)
    assert done.stdout == ""
    assert not cached.exists()
    helper("erase", registry.host, env=env)  # nothing cached: still done
    assert helper("erase", "ghcr.io", env=env, expect=1).stdout.strip() == NOT_FOUND

    before = issued(registry)
    second = json.loads(helper("get", registry.host, env=env).stdout)
    assert issued(registry) == before + 1
    assert second["Secret"] != first["Secret"]


@pytest.mark.parametrize("revoke", ["disable", "delete"])
def test_a_revoked_access_key_is_a_clear_error(
    registry: DockyardServer, tmp_path: Path, revoke: str
) -> None:
    with admin_api(registry) as api:
        key = api.post("/users/admin/access-keys", json={}).json()
        path = f"/users/admin/access-keys/{key['accessKeyId']}"
        env = {
            **key_env(key),
            "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", {registry.host: "dockyard"})),
            "DOCKYARD_CREDENTIAL_CACHE_DIR": str(tmp_path / "cache"),
        }
        if revoke == "disable":
            assert api.patch(path, json={"status": "disabled"}).status_code == 200
        else:
            assert api.delete(path).status_code == 204
        done = helper("get", registry.host, env=env, expect=1)
        api.delete(path)  # the disabled one
    assert f"refused the access key {key['accessKeyId']}" in done.stdout
    assert key["accessKeySecret"] not in done.stdout + done.stderr


def test_without_an_access_key_or_a_verb(registry: DockyardServer, tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(docker_config(tmp_path, {registry.host: "dockyard"}))}
    done = helper("get", registry.host, env=env, expect=1)
    assert done.stdout.startswith("no access key: set DOCKYARD_ACCESS_KEY_FILE")
    missing = {**env, "DOCKYARD_ACCESS_KEY_FILE": str(tmp_path / "nowhere.json")}
    done = helper("list", "", env=missing, expect=1)
    assert "cannot read the access key file" in done.stdout
    usage = helper("version", "", env=env, expect=1)
    assert usage.stdout.strip() == "Usage: docker-credential-dockyard <get|store|erase|list>"
