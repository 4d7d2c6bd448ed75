"""Source-address rules exercised from real distinct addresses: network namespaces.

Each namespace is joined to the root namespace by its own veth pair on a private /24 of
10.213.0.0/16 (``tests/netns.py``); the server listens on 0.0.0.0 and each namespace
reaches it on the root side of its veth, so the server sees the namespace's address.

* The concurrently-pulling-client limit: a Standard instance whose limit is overridden to
  2 (``DOCKYARD_TEST_PULL_CLIENT_LIMITS``, test-only); two namespaces hold slow blob
  downloads open, a third is refused with 429 ``TOOMANYREQUESTS`` and ``Retry-After``, a
  pulling address may open more downloads, and once one download finishes a new client
  gets in.
* Endpoint allowlists: an endpoint admitting namespace A's address and not B's.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.api.conftest import ApiClient, Pusher, sha256, sign_in, unique
from tests.conftest import DockyardServer, ServerFactory
from tests.netns import NetNs, network_namespaces

pytestmark = pytest.mark.e2e

BIG = 64 * 1024 * 1024  # far more than socket buffers and Granian's four-chunk channel


@pytest.fixture
def server(fresh_registry: ServerFactory) -> DockyardServer:
    return fresh_registry(
        workers=2,
        bind="0.0.0.0",  # noqa: S104 - reached from the test namespaces only
        env={"DOCKYARD_TEST_PULL_CLIENT_LIMITS": json.dumps({"Standard": 2})},
    )


@pytest.fixture
def admin_api(server: DockyardServer) -> Iterator[ApiClient]:
    client = ApiClient(server, token=sign_in(server, *server.admin))
    yield client
    client.close()


@pytest.fixture
def spaces() -> Iterator[list[NetNs]]:
    with network_namespaces(4) as created:
        yield created


class Holder:
    """A download held open from inside a namespace (``netns_client.py hold``)."""

    def __init__(self, ns: NetNs, url: str, host: str, creds: tuple[str, str]) -> None:
        self.proc = subprocess.Popen(
            ns.client("hold", url, host, *creds),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def first(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"client ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
        result: dict[str, Any] = json.loads(line)
        return result

    def end(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=60)
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _url(ns: NetNs, server: DockyardServer, path: str) -> str:
    return f"http://{ns.gateway}:{server.port}{path}"


def test_pull_client_limit_counts_distinct_source_addresses(
    server: DockyardServer, admin_api: ApiClient, spaces: list[NetNs]
) -> None:
    domain = f"{unique('pull')}.test"
    admin_api.create_instance("Standard", endpoints=[{"networkType": "vpc", "domain": domain}])
    name = f"{unique('ns')}/big"
    pusher = Pusher(server, host=domain)
    try:
        big = os.urandom(BIG)
        small = b"small blob"
        for data in (big, small):
            assert pusher.blob(name, data).status_code == 201
    finally:
        pusher.close()
    host = f"{domain}:{server.port}"
    big_path = f"/v2/{name}/blobs/{sha256(big)}"
    small_path = f"/v2/{name}/blobs/{sha256(small)}"
    a, b, c, d = spaces
    holders: list[Holder] = []
    try:
        # Two clients download slowly: both slots of the (overridden) Standard limit taken.
        for ns in (a, b):
            holder = Holder(ns, _url(ns, server, big_path), host, server.admin)
            holders.append(holder)
            assert holder.first()["status"] == 206

        # A third address is refused, with Retry-After; HEAD is not a download.
        refused = c.run_client("request", "GET", _url(c, server, small_path), host, *server.admin)
        assert refused["status"] == 429, refused
        assert int(refused["headers"]["retry-after"]) > 0
        errors = json.loads(refused["body"])["errors"]
        assert errors[0]["code"] == "TOOMANYREQUESTS"
        assert "concurrently pulling clients" in errors[0]["message"]
        head = c.run_client("request", "HEAD", _url(c, server, small_path), host, *server.admin)
        assert head["status"] == 200

        # An address that is pulling already may open more downloads (clients, not requests).
        again = a.run_client("request", "GET", _url(a, server, small_path), host, *server.admin)
        assert again["status"] == 200 and again["body"] == small.decode()

        # One download finishes: its slot is free again for a new address.
        assert holders[0].end("finish")["read"] == BIG
        deadline = time.monotonic() + 10
        while True:
            got = d.run_client("request", "GET", _url(d, server, small_path), host, *server.admin)
            if got["status"] == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert got["status"] == 200, got
        assert got["body"] == small.decode()

        # A client that drops its connection mid-download frees its slot too.
        assert holders[1].end("close")["read"] < BIG
        deadline = time.monotonic() + 10
        while True:
            got = c.run_client("request", "GET", _url(c, server, small_path), host, *server.admin)
            if got["status"] == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert got["status"] == 200, got
    finally:
        for holder in holders:
            holder.kill()
    assert "Traceback" not in server.log_text()


def test_endpoint_allowlist_admits_one_namespace_and_refuses_another(
    server: DockyardServer, admin_api: ApiClient, spaces: list[NetNs]
) -> None:
    a, b = spaces[0], spaces[1]
    domain = f"{unique('acl')}.test"
    admin_api.create_instance(
        "Advanced",
        endpoints=[
            {
                "networkType": "vpc",
                "domain": domain,
                "allowlist": [
                    {"cidr": f"{a.address}/32", "description": "namespace A"},
                    {"cidr": "127.0.0.1/32", "description": "the test itself, to push"},
                ],
            }
        ],
    )
    name = f"{unique('ns')}/app"
    pusher = Pusher(server, host=domain)
    try:
        pusher.image(name, "v1")
    finally:
        pusher.close()
    host = f"{domain}:{server.port}"

    # From A: login (token service), manifest and blobs.
    pulled = a.run_client("pull", _url(a, server, "/"), host, *server.admin, name, "v1")
    assert pulled["token"] == 200 and pulled["manifest"] == 200, pulled
    assert pulled["blobs"] and set(pulled["blobs"]) == {200}, pulled
    base = a.run_client("request", "GET", _url(a, server, "/v2/"), host, *server.admin)
    assert base["status"] == 200

    # From B: refused at login and at every registry call, naming the allowlist.
    refused = b.run_client("pull", _url(b, server, "/"), host, *server.admin, name, "v1")
    assert refused["token"] == 403, refused
    assert "allowlist" in refused["body"]
    base = b.run_client("request", "GET", _url(b, server, "/v2/"), host, *server.admin)
    assert base["status"] == 403
    error = json.loads(base["body"])["errors"][0]
    assert error["code"] == "DENIED" and b.address in error["message"]

    # B reaches the default instance (no endpoint allowlist) on the same server.
    open_base = b.run_client(
        "request", "GET", _url(b, server, "/v2/"), f"{b.gateway}:{server.port}", *server.admin
    )
    assert open_base["status"] == 200
