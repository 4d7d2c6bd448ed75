"""``dockyard nginx-config``: the mapping it writes is the one Dockyard matches blobs against.

The mapping tests push a blob through the blob store Dockyard builds from the same settings,
pass the header the generated configuration sends through the proxy middleware, and check
that Dockyard names the blob's internal URI and that nginx's ``alias`` leads to that file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from dockyard.bootstrap import make_blob_store
from dockyard.cli.main import app
from dockyard.cli.nginx import (
    INTERNAL_LOCATION,
    Address,
    NginxConfigError,
    parse_listen,
    parse_upstream,
    render_nginx_config,
)
from dockyard.oci.digest import Digest
from dockyard.proxy import ProxyHeadersMiddleware, accel_redirect, parse_networks
from dockyard.settings import Settings

pytestmark = pytest.mark.unit

NGINX_ADDRESS = "127.0.0.1"


@pytest.fixture(autouse=True)
def _no_dockyard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings come from each test's flags and environment only."""
    for key in list(os.environ):
        if key.startswith("DOCKYARD_"):
            monkeypatch.delenv(key)
    # ``--config`` sets it for the process: undone after each test.
    monkeypatch.setenv("DOCKYARD_CONFIG", "")


def generate(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["nginx-config", *args], env=env)


def directive(conf: str, name: str) -> list[str]:
    """The arguments of every simple ``name`` directive (comments stripped; block openings
    such as ``server {`` are not directives)."""
    found = []
    for line in conf.splitlines():
        words = line.split("#", 1)[0].strip().rstrip(";").split()
        if words and words[0] == name and words[-1] != "{":
            found.append(" ".join(words[1:]))
    return found


def mapping_header(conf: str) -> str:
    (value,) = [
        v.removeprefix("X-Accel-Mapping ")
        for v in directive(conf, "proxy_set_header")
        if v.startswith("X-Accel-Mapping ")
    ]
    return value


def scope_through_proxy(mapping: str) -> dict[str, Any]:
    """The scope a handler sees for a request nginx sent with the generated headers."""
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    middleware = ProxyHeadersMiddleware(inner, parse_networks([f"{NGINX_ADDRESS}/32"]))
    scope = {
        "type": "http",
        "client": (NGINX_ADDRESS, 40000),
        "headers": [
            (b"x-sendfile-type", b"X-Accel-Redirect"),
            (b"x-accel-mapping", mapping.encode("latin-1")),
        ],
    }
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    return seen


def stored_blob_path(data_dir: Path) -> tuple[Digest, Path]:
    """Push a blob through the store Dockyard builds from these settings; its file's path
    as Dockyard hands it to the response (``body.path``)."""
    data = b"layer bytes" * 100
    digest = Digest.of(data)
    store = make_blob_store(Settings(data_dir=data_dir))

    async def push() -> Path:
        key = await store.start_upload()

        async def chunks() -> Any:
            yield data

        await store.append(key, 0, chunks())
        await store.commit(key, digest)
        body = await store.body(digest)
        assert body.path is not None
        return Path(body.path)

    return digest, asyncio.run(push())


def assert_nginx_sends_the_blob(conf: str, data_dir: Path) -> None:
    digest, path = stored_blob_path(data_dir)
    uri = accel_redirect(scope_through_proxy(mapping_header(conf)), path)
    assert uri == f"{INTERNAL_LOCATION}{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"
    # nginx serves INTERNAL_LOCATION + rest from alias + rest: the very file.
    (alias,) = directive(conf, "alias")
    assert os.path.samefile(alias + uri.removeprefix(INTERNAL_LOCATION), path)


def test_relative_data_dir_is_mapped_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = generate("--server-name", "registry.test", "--data-dir", "./data/../data")
    assert result.exit_code == 0, result.output
    expected = f"{os.getcwd()}/data/storage/blobs"
    assert mapping_header(result.stdout) == f"{expected}/={INTERNAL_LOCATION}"
    assert directive(result.stdout, "alias") == [f"{expected}/"]
    assert f"the data dir data/../data is relative: taken from {os.getcwd()}" in result.stderr
    assert_nginx_sends_the_blob(result.stdout, Path("./data/../data"))


def test_absolute_data_dir_through_a_symlink_is_not_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path / "real")  # elsewhere: an absolute path ignores it
    data_dir = tmp_path / "link" / "data"
    result = generate("--server-name", "registry.test", env={"DOCKYARD_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    assert mapping_header(result.stdout) == f"{data_dir}/storage/blobs/={INTERNAL_LOCATION}"
    assert "relative" not in result.stderr
    assert f"{data_dir}/storage/blobs does not exist yet" in result.stderr
    assert_nginx_sends_the_blob(result.stdout, data_dir)


def test_settings_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "dockyard.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "d"}"\nlisten = "0.0.0.0:5123"\n'
        'trusted_proxies = ["127.0.0.0/8"]\n'
    )
    result = generate("--server-name", "registry.test", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert mapping_header(result.stdout).startswith(f"{tmp_path / 'd'}/storage/blobs/=")
    # Dockyard on every address: nginx connects over loopback, which the file trusts.
    assert directive(result.stdout, "server") == ["127.0.0.1:5123"]
    assert "trust" not in result.stderr


def test_plain_http_front(tmp_path: Path) -> None:
    result = generate("--server-name", "registry.test", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    conf = result.stdout
    assert directive(conf, "listen") == ["80"]
    assert directive(conf, "server_name") == ["registry.test"]
    assert "ssl" not in conf
    assert "\nupstream dockyard {\n" in conf
    assert directive(conf, "server") == ["127.0.0.1:5000"]
    assert directive(conf, "keepalive") == ["32"]
    assert directive(conf, "proxy_pass") == ["http://dockyard"]
    assert directive(conf, "proxy_http_version") == ["1.1"]
    headers = directive(conf, "proxy_set_header")
    assert 'Connection ""' in headers
    assert "X-Sendfile-Type X-Accel-Redirect" in headers
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in headers
    assert directive(conf, "internal") == [""]
    assert directive(conf, "sendfile") == ["on"]
    assert directive(conf, "tcp_nopush") == ["on"]
    assert directive(conf, "etag") == ["off"]
    assert directive(conf, "max_ranges") == ["1"]
    assert directive(conf, "client_max_body_size") == ["0"]
    assert directive(conf, "proxy_request_buffering") == ["off"]
    assert directive(conf, "proxy_buffering") == ["off"]
    assert directive(conf, "proxy_read_timeout") == ["900s"]
    assert directive(conf, "add_header") == [
        "Docker-Content-Digest $upstream_http_docker_content_digest",
        "ETag $upstream_http_etag",
    ]
    assert conf.count("{") == conf.count("}") == 4  # upstream, server, two locations
    # Dockyard's default settings trust no proxy: the matching flag, on stderr only.
    assert "--trusted-proxies 127.0.0.1/32" in result.stderr
    assert "trusted-proxies" not in conf


def test_tls_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = generate(
        *("--server-name", "registry.test", "--server-name", "*.registry.test"),
        *("--tls-cert", "tls/cert.pem", "--tls-key", "/etc/ssl/registry.key"),
        *("--data-dir", str(tmp_path)),
    )
    assert result.exit_code == 0, result.output
    assert directive(result.stdout, "listen") == ["443 ssl"]
    assert directive(result.stdout, "server_name") == ["registry.test *.registry.test"]
    assert directive(result.stdout, "ssl_certificate") == [f"{tmp_path}/tls/cert.pem"]
    assert directive(result.stdout, "ssl_certificate_key") == ["/etc/ssl/registry.key"]

    on_port = generate(
        *("--server-name", "r.test", "--listen", "[::1]:8443", "--data-dir", str(tmp_path)),
        *("--tls-cert", "/c.pem", "--tls-key", "/k.pem"),
    )
    assert directive(on_port.stdout, "listen") == ["[::1]:8443 ssl"]


def test_upstream_override_and_the_trusted_proxies_reminder(tmp_path: Path) -> None:
    env = {"DOCKYARD_LISTEN": "127.0.0.1:5000", "DOCKYARD_TRUSTED_PROXIES": "127.0.0.1/32"}
    base = ("--server-name", "registry.test", "--data-dir", str(tmp_path))
    trusted = generate(*base, env=env)
    assert directive(trusted.stdout, "server") == ["127.0.0.1:5000"]
    assert "trust" not in trusted.stderr

    ipv6 = generate(*base, "--upstream", "[::1]:6000", env=env)
    assert ipv6.exit_code == 0, ipv6.output
    assert directive(ipv6.stdout, "server") == ["[::1]:6000"]
    assert "nginx connects from ::1" in ipv6.stderr
    assert "--trusted-proxies ::1/128" in ipv6.stderr

    other = generate(*base, "--upstream", "10.0.0.11:5000", env=env)
    assert directive(other.stdout, "server") == ["10.0.0.11:5000"]
    assert "--trusted-proxies 10.0.0.11/32" in other.stderr

    named = generate(*base, "--upstream", "dockyard.internal:5000")
    assert directive(named.stdout, "server") == ["dockyard.internal:5000"]
    assert "Dockyard trusts no proxy" in named.stderr


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "dockyard.conf"
    result = generate(
        *("--server-name", "registry.test", "--data-dir", str(tmp_path)),
        *("--output", str(target)),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert directive(target.read_text(), "proxy_pass") == ["http://dockyard"]


def test_s3_storage_is_refused(tmp_path: Path) -> None:
    result = generate(
        *("--server-name", "registry.test", "--data-dir", str(tmp_path)),
        env={"DOCKYARD_STORAGE": "s3://bucket/prefix"},
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "filesystem storage" in result.stderr
    assert "DOCKYARD_S3_PRESIGN_REDIRECTS" in result.stderr


def test_dockyard_serving_tls_itself_is_refused(tmp_path: Path) -> None:
    result = generate(
        *("--server-name", "registry.test", "--data-dir", str(tmp_path)),
        env={"DOCKYARD_TLS_CERT": "/c.pem", "DOCKYARD_TLS_KEY": "/k.pem"},
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "let nginx terminate TLS" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "70000"], "port must be 1-65535"),
        (["--listen", "0"], "port must be 1-65535"),
        (["--listen", "127.0.0.1:http"], "port must be 1-65535"),
        (["--listen", "not a host:80"], "neither an IP address nor a host name"),
        (["--listen", "[registry]:80"], "neither an IP address nor a host name"),
        (["--upstream", "5000"], "expected HOST:PORT"),
        (["--upstream", "127.0.0.1:99999"], "port must be 1-65535"),
        (["--upstream", "a;b:5000"], "neither an IP address nor a host name"),
        (["--server-name", "a;b"], "not a host name nginx matches"),
        (["--server-name", "$host"], "not a host name nginx matches"),
        (["--tls-cert", "/c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "/c d.pem", "--tls-key", "/k.pem"], "cannot carry"),
        (["--data-dir", "/srv/dock yard"], "cannot carry"),
        (["--data-dir", "/srv/$dockyard"], "cannot carry"),
        (["--data-dir", "/srv/a=b"], "cannot carry"),
        (["--data-dir", "/srv/dockyárd"], "cannot carry"),
    ],
)
def test_bad_values_are_refused(args: list[str], message: str) -> None:
    result = generate("--server-name", "registry.test", *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert message in result.stderr
    assert result.stdout == ""


def test_bad_settings_and_missing_server_name_are_refused(tmp_path: Path) -> None:
    missing = generate("--data-dir", str(tmp_path))
    assert missing.exit_code == 2
    assert "--server-name" in missing.stderr
    bad = generate("--server-name", "r.test", env={"DOCKYARD_LISTEN": "nowhere"})
    assert bad.exit_code == 2
    assert "invalid configuration" in bad.stderr
    assert isinstance(bad.exception, SystemExit)


def test_parsers() -> None:
    assert parse_listen("443") == Address(None, 443)
    assert str(parse_listen("[::]:80")) == "[::]:80"
    assert str(parse_listen("registry.test:8080")) == "registry.test:8080"
    assert str(parse_upstream("[::]:5000")) == "[::1]:5000"
    assert str(parse_upstream("0.0.0.0:5000")) == "127.0.0.1:5000"
    assert str(parse_upstream("localhost:5000")) == "localhost:5000"
    with pytest.raises(NginxConfigError, match="neither"):
        parse_upstream("300.1.2.3:5000")


def test_render_refuses_what_nginx_would_misread() -> None:
    port80, local = Address(None, 80), Address("127.0.0.1", 5000)
    with pytest.raises(NginxConfigError, match="not an absolute path"):
        render_nginx_config(listen=port80, upstream=local, blobs="data/storage/blobs")
    with pytest.raises(NginxConfigError, match="cannot be /"):
        render_nginx_config(listen=port80, upstream=local, blobs="/")
    with pytest.raises(NginxConfigError, match="needs a host"):
        render_nginx_config(listen=port80, upstream=Address(None, 5000), blobs="/b")
    conf = render_nginx_config(listen=port80, upstream=local, blobs="/srv/d/storage/blobs/")
    assert mapping_header(conf) == f"/srv/d/storage/blobs/={INTERNAL_LOCATION}"
    assert directive(conf, "alias") == ["/srv/d/storage/blobs/"]
    assert directive(conf, "server_name") == []  # no names given: none written
