"""``dockyard nginx-config``: the nginx front that sends blob files itself (X-Accel-Redirect).

The configuration is written here, from explicit inputs, rather than by hand: its mapping
prefix must be, character for character, the blob directory Dockyard matches files against
(:func:`dockyard.proxy.accel_redirect`), and a wrong one is not an error anywhere, only
slower downloads (Dockyard then sends the bytes itself). docs/operations.md shows, and the
e2e test and the benchmark's nginx front run, what :func:`render_nginx_config` writes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.proxy import parse_networks

#: The internal location nginx sends blob files from (never reachable from outside).
INTERNAL_LOCATION = "/_dockyard_blobs/"
#: Idle connections to Dockyard each nginx worker keeps open.
UPSTREAM_KEEPALIVE = 32
#: Below Granian's 30 s: Granian closes a connection idle that long, and an upload sent on
#: one it is closing fails (nginx retries neither a PATCH nor a body it has streamed).
UPSTREAM_KEEPALIVE_TIMEOUT = "20s"

_HOSTNAME = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_SERVER_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?(\.\*)?$")
#: Characters a path may not contain here: nginx would read them as syntax or a variable
#: (``$``), Dockyard splits the mapping at ``=``, and nginx sends header bytes that
#: Dockyard decodes as Latin-1, so only ASCII compares equal.
_PATH_UNSAFE = re.compile(r"[\s;{}\"'$\\#=]|[^\x21-\x7e]")


class NginxConfigError(ValueError):
    """A value nginx would misread, or that would make Dockyard ignore nginx's offer."""


@dataclass(frozen=True)
class Address:
    """``host:port`` as nginx writes it (an IPv6 host in brackets); host None: every address."""

    host: str | None
    port: int

    def __str__(self) -> str:
        if self.host is None:
            return str(self.port)
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise NginxConfigError(f"{what}: port must be 1-65535, not {text!r}")
    return int(text)


def _host(text: str, what: str) -> str:
    """An IP address (brackets removed) or a host name, checked so nginx reads it as one."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if bare != text or not _HOSTNAME.match(bare) or bare.replace(".", "").isdigit():
        raise NginxConfigError(f"{what}: {text!r} is neither an IP address nor a host name")
    return bare


def parse_listen(value: str) -> Address:
    """nginx's own address: ``PORT`` (every address) or ``HOST:PORT`` (``[V6]:PORT``)."""
    what = f"--listen {value!r}"
    if value.isdigit():
        return Address(None, _port(value, what))
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise NginxConfigError(f"{what}: expected PORT or HOST:PORT")
    return Address(_host(host, what), _port(port, what))


def parse_upstream(value: str, *, what: str = "--upstream") -> Address:
    """Where nginx connects to Dockyard: ``HOST:PORT``; a wildcard host (``0.0.0.0``,
    ``[::]``, as Dockyard may listen on) becomes the loopback address of its family."""
    what = f"{what} {value!r}"
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise NginxConfigError(f"{what}: expected HOST:PORT")
    checked = _host(host, what)
    with contextlib.suppress(ValueError):  # a host name stays as it is
        address = ipaddress.ip_address(checked)
        if address.is_unspecified:
            checked = "127.0.0.1" if address.version == 4 else "::1"
    return Address(checked, _port(port, what))


def blob_dir(blobs: Path) -> str:
    """The prefix Dockyard matches blob files against: the filesystem driver's blob directory
    made absolute from the working directory as :func:`dockyard.proxy.accel_redirect` does
    (``abspath``: symbolic links not resolved), so relative data dirs need the directory
    serve runs in."""
    return os.path.abspath(blobs)


def proxy_source(upstream: Address) -> str | None:
    """The address nginx connects to Dockyard from, which ``--trusted-proxies`` must hold:
    nginx reads the files, so it runs on Dockyard's machine, and Linux sends from the
    destination address itself (from 127.0.0.1 to any of 127.0.0.0/8). None for a host
    name (whichever address it resolves to)."""
    if upstream.host is None:
        return None
    try:
        address = ipaddress.ip_address(upstream.host)
    except ValueError:
        return None
    if address.is_loopback:
        return "127.0.0.1" if address.version == 4 else "::1"
    return str(address)


def trust_reminder(upstream: Address, trusted_proxies: Sequence[str]) -> str | None:
    """What to pass to ``dockyard serve`` when its settings do not trust nginx: Dockyard
    believes the X-Accel-Mapping offer only from ``--trusted-proxies``, and without it sends
    every blob itself, which works, only slower, so nothing else would tell."""
    source = proxy_source(upstream)
    if source is None:
        if trusted_proxies:
            return None  # a host name: whatever it resolves to may be in there
        return (
            f"Dockyard trusts no proxy: start it with --trusted-proxies naming the address "
            f"nginx connects to {upstream} from, or it sends the blobs itself"
        )
    address = ipaddress.ip_address(source)
    if any(address in net for net in parse_networks(trusted_proxies)):
        return None
    return (
        f"nginx connects from {source}, which Dockyard's settings do not trust: run "
        f"`dockyard serve --trusted-proxies {ipaddress.ip_network(source)}` (or set "
        "DOCKYARD_TRUSTED_PROXIES), or Dockyard ignores nginx's offer and sends blobs itself"
    )


def _path(value: str, what: str) -> str:
    if not value.startswith("/"):
        raise NginxConfigError(f"{what}: {value!r} is not an absolute path")
    if _PATH_UNSAFE.search(value):
        raise NginxConfigError(
            f"{what}: {value!r} has a character nginx or the mapping header cannot carry "
            "(whitespace, ; { } \" ' $ \\ # =, or non-ASCII)"
        )
    return value.rstrip("/") or "/"


def render_nginx_config(
    *,
    listen: Address,
    upstream: Address,
    blobs: str,
    server_names: Sequence[str] = (),
    tls: tuple[str, str] | None = None,
) -> str:
    """The front's configuration for nginx's http context (a file in ``conf.d/``).

    ``blobs`` is Dockyard's blob directory (:func:`blob_dir`), ``tls`` the absolute paths
    of the certificate and its key. Raises :class:`NginxConfigError` for a value nginx
    would misread; never touches the filesystem.
    """
    if upstream.host is None:
        raise NginxConfigError("the upstream needs a host")
    prefix = _path(blobs, "blob directory (data dir + storage/blobs)")
    if prefix == "/":
        raise NginxConfigError("the blob directory cannot be /")
    for name in server_names:
        if not _SERVER_NAME.match(name):
            raise NginxConfigError(f"--server-name {name!r} is not a host name nginx matches")
    if tls is not None:
        tls = (_path(tls[0], "--tls-cert"), _path(tls[1], "--tls-key"))
    internal = INTERNAL_LOCATION
    ssl = " ssl" if tls else ""
    names = [f"server_name {' '.join(server_names)};"] if server_names else []
    certs = [f"ssl_certificate {tls[0]};", f"ssl_certificate_key {tls[1]};"] if tls else []
    lines = [
        "# nginx in front of Dockyard, sending blob files itself (X-Accel-Redirect).",
        "# Written by `dockyard nginx-config`; http context (/etc/nginx/conf.d/).",
        "",
        "upstream dockyard {",
        f"    server {upstream};",
        _why(f"    keepalive {UPSTREAM_KEEPALIVE};", "idle connections kept open to Dockyard"),
        _why(
            f"    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT};",
            "under Granian's 30 s idle close",
        ),
        "}",
        "",
        "server {",
        f"    listen {listen}{ssl};",
        *(f"    {line}" for line in names + certs),
        _why("    client_max_body_size 0;", "layers are large"),
        _why("    proxy_request_buffering off;", "stream uploads to the node"),
        "    proxy_buffering off;",
        "    proxy_read_timeout 900s;",
        "    location / {",
        "        proxy_pass http://dockyard;",
        _why("        proxy_http_version 1.1;", "keep the upstream connections open"),
        '        proxy_set_header Connection "";',
        "        # the Host the client sent, port included: token realm, Location headers",
        "        proxy_set_header Host $http_host;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        proxy_set_header X-Forwarded-Host $http_host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f'        # "I can send files under {prefix}/, from {internal}"',
        "        proxy_set_header X-Sendfile-Type X-Accel-Redirect;",
        f"        proxy_set_header X-Accel-Mapping {prefix}/={internal};",
        "    }",
        f"    location {internal} {{",
        _why("        internal;", "reachable only through X-Accel-Redirect"),
        f"        alias {prefix}/;",
        "        sendfile on;",
        _why("        tcp_nopush on;", "full packets: about a third faster on loopback"),
        _why("        etag off;", "the ETag is the digest, not nginx's own"),
        _why("        max_ranges 1;", "one range or the whole blob, never multipart"),
        "        add_header Docker-Content-Digest $upstream_http_docker_content_digest;",
        "        add_header ETag $upstream_http_etag;",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _why(directive: str, comment: str) -> str:
    """A directive with the reason for it, comments aligned as in docs/operations.md."""
    return f"{directive:<39} # {comment}"
