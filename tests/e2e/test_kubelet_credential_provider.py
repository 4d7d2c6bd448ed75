"""``dockyard-credential-provider``, run as the kubelet runs it: the installed console script
as a subprocess, a ``CredentialProviderRequest`` on stdin, against a real server.

The server's audit log counts the temporary credentials it issued (GetAuthorizationToken),
so caching and renewal are proven on the server's side, and the credentials handed out
are used for the registry's token flow.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DockyardServer, free_port
from tests.dockyard_cli import Cli
from tests.e2e.access_keys import admin_api, issued, key_env, made_access_key, pulls_with

from dockyard.integrations.temporary_logins import LoginCache, parse_duration

pytestmark = pytest.mark.e2e

PROVIDER = Path(sys.executable).parent / "dockyard-credential-provider"
V1 = "credentialprovider.kubelet.k8s.io/v1"


def request(image: str, api_version: str = V1) -> str:
    return json.dumps(
        {"apiVersion": api_version, "kind": "CredentialProviderRequest", "image": image}
    )


@pytest.fixture(scope="module")
def access_key(registry: DockyardServer) -> Iterator[dict[str, Any]]:
    yield from made_access_key(registry, "kubelet")


def provide(
    stdin: str, *args: str, env: dict[str, str], cache: Path, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run the plugin once; the environment holds only what the kubelet's config gives."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    done = subprocess.run(
        [str(PROVIDER), "--cache-dir", str(cache), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def response_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    response: dict[str, Any] = json.loads(done.stdout)
    assert response["kind"] == "CredentialProviderResponse"
    return response


def cache_file(registry: DockyardServer, cache: Path, key: dict[str, Any]) -> Path:
    return LoginCache(cache).path_for(registry.url, key["accessKeyId"])


@pytest.mark.parametrize("cache_key_type", ["Image", "Registry", "Global"])
def test_the_credentials_handed_out_open_the_registry(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path, cache_key_type: str
) -> None:
    image = f"{registry.host}/team/app:1.0"
    done = provide(
        request(image),
        "--cache-key-type",
        cache_key_type,
        env=key_env(access_key),
        cache=tmp_path / "cache",
    )
    response = response_of(done)
    assert response["apiVersion"] == V1
    assert response["cacheKeyType"] == cache_key_type
    assert list(response["auth"]) == [registry.host]
    login = response["auth"][registry.host]
    assert pulls_with(registry, login["username"], login["password"]) == 200
    assert pulls_with(registry, login["username"], login["password"] + "x") == 401
    # One hour of validity, asked again 15 minutes (the default threshold) before its end.
    assert timedelta(0) < parse_duration(response["cacheDuration"]) <= timedelta(minutes=45)
    cached = cache_file(registry, tmp_path / "cache", access_key)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700
    assert access_key["accessKeySecret"] not in cached.read_text()


def test_a_key_file_and_an_older_api_version(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path
) -> None:
    key_file = tmp_path / "access-key.json"
    key_file.write_text(json.dumps(access_key))
    beta = "credentialprovider.kubelet.k8s.io/v1beta1"
    done = provide(
        request(f"{registry.host}/team/app", beta),
        env={"DOCKYARD_ACCESS_KEY_FILE": str(key_file)},
        cache=tmp_path / "cache",
    )
    response = response_of(done)
    assert response["apiVersion"] == beta
    login = response["auth"][registry.host]
    assert pulls_with(registry, login["username"], login["password"]) == 200

    # STS credentials in the file: their security token goes along.
    with admin_api(registry) as api:
        sts = api.post(
            "/auth/sts",
            auth=(access_key["accessKeyId"], access_key["accessKeySecret"]),
            json={"durationSeconds": 3600},
        )
    assert sts.status_code == 200, sts.text
    key_file.write_text(json.dumps(sts.json()))
    done = provide(
        request(f"{registry.host}/team/app"),
        env={"DOCKYARD_ACCESS_KEY_FILE": str(key_file)},
        cache=tmp_path / "sts",
    )
    login = response_of(done)["auth"][registry.host]
    assert pulls_with(registry, login["username"], login["password"]) == 200

    missing = provide(
        request(f"{registry.host}/team/app"),
        "--access-key-file",
        str(tmp_path / "nowhere.json"),
        env={},
        cache=tmp_path / "other",
        expect=1,
    )
    assert "cannot read the access key file" in missing.stderr and missing.stdout == ""


def test_the_second_pull_uses_the_cache(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path
) -> None:
    before = issued(registry)
    first = response_of(
        provide(request(f"{registry.host}/a/b"), env=key_env(access_key), cache=tmp_path)
    )
    assert issued(registry) == before + 1
    second = response_of(
        provide(request(f"{registry.host}/c/d:2"), env=key_env(access_key), cache=tmp_path)
    )
    assert issued(registry) == before + 1
    assert second["auth"] == first["auth"]


def test_credentials_expiring_within_the_threshold_are_renewed(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path
) -> None:
    env, image = key_env(access_key), request(f"{registry.host}/a/b")
    first = response_of(provide(image, env=env, cache=tmp_path))["auth"][registry.host]
    cached = cache_file(registry, tmp_path, access_key)
    entry = json.loads(cached.read_text())
    entry["expiresAt"] = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    cached.write_text(json.dumps(entry))

    before = issued(registry)
    renewed = response_of(provide(image, env=env, cache=tmp_path))
    assert issued(registry) == before + 1
    login = renewed["auth"][registry.host]
    assert login["password"] != first["password"]
    assert pulls_with(registry, login["username"], login["password"]) == 200
    assert datetime.fromisoformat(
        json.loads(cached.read_text())["expiresAt"]
    ) > datetime.fromisoformat(entry["expiresAt"])

    # A threshold longer than the credentials live: new ones every time, never cached by kubelet.
    always = provide(image, "--expiring-threshold", "2h", env=env, cache=tmp_path)
    assert issued(registry) == before + 2
    assert response_of(always)["cacheDuration"] == "0s"


class NotARegistry(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def web_server() -> Iterator[str]:
    """A plain web server on 127.0.0.1 that is not a Dockyard: its ``host:port``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotARegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_unknown_registries_get_an_empty_auth(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path, web_server: str
) -> None:
    before = issued(registry)
    for image, args in (
        ("nginx:1.27", ()),  # Docker Hub
        (f"{registry.host}/a/b", ("--registry", "dockyard.example.com")),  # not configured
        (f"{web_server}/a/b", ()),  # not a Dockyard
        (f"127.0.0.1:{free_port()}/a/b", ()),  # nothing listening
    ):
        done = provide(request(image), *args, env=key_env(access_key), cache=tmp_path)
        response = response_of(done)
        assert response["auth"] == {}, image
        assert response["cacheDuration"] == "0s"
        assert "no credentials" in done.stderr
    assert issued(registry) == before
    assert list(tmp_path.glob("*.json")) == []


def test_a_corrupt_cache_is_replaced(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path
) -> None:
    cached = cache_file(registry, tmp_path, access_key)
    for garbage in ("{not json", json.dumps({"username": "cr_temp_user", "expiresAt": "soon"})):
        cached.write_text(garbage)
        done = provide(request(f"{registry.host}/a/b"), env=key_env(access_key), cache=tmp_path)
        login = response_of(done)["auth"][registry.host]
        assert pulls_with(registry, login["username"], login["password"]) == 200
        assert json.loads(cached.read_text())["password"] == login["password"]


@pytest.mark.parametrize("revoke", ["disable", "delete"])
def test_a_revoked_access_key_fails_clearly(
    registry: DockyardServer, tmp_path: Path, revoke: str
) -> None:
    with admin_api(registry) as api:
        key = api.post("/users/admin/access-keys", json={}).json()
        path = f"/users/admin/access-keys/{key['accessKeyId']}"
        env, image = key_env(key), request(f"{registry.host}/a/b")
        assert response_of(provide(image, env=env, cache=tmp_path / "one"))["auth"]
        if revoke == "disable":
            assert api.patch(path, json={"status": "disabled"}).status_code == 200
        else:
            assert api.delete(path).status_code == 204
        done = provide(image, env=env, cache=tmp_path / "two", expect=1)
        api.delete(path)  # the disabled one
    assert done.stdout == ""
    assert f"refused the access key {key['accessKeyId']}" in done.stderr
    assert key["accessKeySecret"] not in done.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("image=nginx", "not a CredentialProviderRequest (JSON)"),
        (json.dumps({"apiVersion": V1, "kind": "Pod", "image": "x/y"}), "(its kind)"),
        (request("x.io/y", "credentialprovider.kubelet.k8s.io/v2"), "unsupported apiVersion"),
        (json.dumps({"apiVersion": V1, "kind": "CredentialProviderRequest"}), "has no image"),
    ],
    ids=["not-json", "wrong-kind", "unknown-version", "no-image"],
)
def test_a_malformed_request_is_refused(
    access_key: dict[str, Any], tmp_path: Path, stdin: str, message: str
) -> None:
    done = provide(stdin, env=key_env(access_key), cache=tmp_path, expect=2)
    assert done.stdout == ""
    assert message in done.stderr


def test_the_printed_kubelet_config_runs_the_provider(
    registry: DockyardServer, access_key: dict[str, Any], tmp_path: Path
) -> None:
    """``dockyard credential-provider-config``, then the plugin run as that config says."""
    key_file = tmp_path / "access-key.json"
    key_file.write_text(json.dumps(access_key))
    cli = Cli(tmp_path / "home")
    printed = cli.run(
        "credential-provider-config", registry.host, "--access-key-file", str(key_file)
    )
    config = json.loads(printed.stdout)
    assert config["apiVersion"] == "kubelet.config.k8s.io/v1"
    assert config["kind"] == "CredentialProviderConfig"
    [provider] = config["providers"]
    assert provider["name"] == PROVIDER.name
    assert provider["matchImages"] == [registry.host]
    assert provider["defaultCacheDuration"] == "45m"
    assert provider["apiVersion"] == V1

    env = {e["name"]: e["value"] for e in provider["env"]}
    done = provide(
        request(f"{registry.host}/a/b", provider["apiVersion"]),
        *provider["args"],
        env=env,
        cache=tmp_path / "cache",
    )
    login = response_of(done)["auth"][registry.host]
    assert pulls_with(registry, login["username"], login["password"]) == 200

    refused = cli.run("credential-provider-config", "https://x.io", expect=2)
    assert "expected a registry HOST[:PORT]" in refused.stderr
