"""Blob GETs answered with X-Accel-Redirect, in process: only for a trusted proxy's offer.

The whole app as each worker builds it (``server.create_app``: the proxy middleware only
when trusted proxies are configured) on a real SQLite database and filesystem store, behind
``httpx.ASGITransport`` with a chosen peer address. ASGITransport offers no pathsend, so a
blob Dockyard sends itself arrives as its bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.bootstrap import load_master_key
from dockyard.metadata import migrate
from dockyard.metadata.session import Database
from dockyard.server import DockyardApp, create_app
from dockyard.services.setup import first_start
from dockyard.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PROXY, STRANGER = "10.0.0.1", "198.51.100.7"
DATA = os.urandom(100_000)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
BLOB_URL = f"/v2/team/app/blobs/{DIGEST}"


def offer(data_dir: Path) -> dict[str, str]:
    return {
        "X-Sendfile-Type": "X-Accel-Redirect",
        "X-Accel-Mapping": f"{data_dir}/storage/blobs/=/_dockyard_blobs/",
    }


@asynccontextmanager
async def registry(data_dir: Path, trusted: list[str]) -> AsyncIterator[Any]:
    """The app with one blob pushed; yields ``get(peer, headers)``."""
    settings = Settings(data_dir=data_dir, insecure_no_auth=True, trusted_proxies=trusted)
    migrate.upgrade(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    try:
        await first_start(db, load_master_key(settings, create=True), "Accel-Adm1n-Passw0rd")
    finally:
        await db.dispose()
    app = create_app(settings)
    inner: Any = app
    while not isinstance(inner, DockyardApp):  # through the Host guard and proxy middleware
        inner = inner.app
    await inner.container.start()

    def client(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://registry.test")

    try:
        async with client(STRANGER) as http:
            resp = await http.post(
                "/v2/team/app/blobs/uploads/", params={"digest": DIGEST}, content=DATA
            )
            assert resp.status_code == 201, resp.text

        async def get(peer: str, headers: dict[str, str], method: str = "GET") -> httpx.Response:
            async with client(peer) as http:
                return await http.request(method, BLOB_URL, headers=headers)

        yield get
    finally:
        await inner.container.stop()


def full_body(resp: httpx.Response) -> None:
    assert resp.status_code == 200
    assert "x-accel-redirect" not in resp.headers
    assert resp.content == DATA
    assert resp.headers["docker-content-digest"] == DIGEST


def test_without_trusted_proxies_an_offer_is_ignored(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with registry(tmp_path, []) as get:
            full_body(await get(PROXY, offer(tmp_path)))
            full_body(await get("127.0.0.1", offer(tmp_path)))

    asyncio.run(scenario())


def test_an_offer_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with registry(tmp_path, ["10.0.0.0/8"]) as get:
            full_body(await get(STRANGER, offer(tmp_path)))
            resp = await get(STRANGER, {**offer(tmp_path), "Range": "bytes=10-19"})
            assert resp.status_code == 206 and resp.content == DATA[10:20]
            assert "x-accel-redirect" not in resp.headers

    asyncio.run(scenario())


def test_a_trusted_proxy_gets_the_internal_uri_for_whole_and_ranged_gets(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with registry(tmp_path, ["10.0.0.0/8"]) as get:
            hexdigest = DIGEST.removeprefix("sha256:")
            expected = f"/_dockyard_blobs/sha256/{hexdigest[:2]}/{hexdigest}"
            for extra in ({}, {"Range": "bytes=10-19"}):
                resp = await get(PROXY, {**offer(tmp_path), **extra})
                assert resp.status_code == 200, extra
                assert resp.content == b""
                assert resp.headers["x-accel-redirect"] == expected
                assert resp.headers["content-type"] == "application/octet-stream"
                assert resp.headers["docker-content-digest"] == DIGEST
                assert resp.headers["etag"] == f'"{DIGEST}"'
                assert resp.headers["cache-control"] == "max-age=31536000"
                # The proxy's file server announces ranges (nginx would send it twice).
                assert "accept-ranges" not in resp.headers
            # HEAD is answered as ever.
            head = await get(PROXY, offer(tmp_path), method="HEAD")
            assert head.status_code == 200 and "x-accel-redirect" not in head.headers
            assert head.headers["content-length"] == str(len(DATA))
            # Without the offer, the trusted proxy gets the bytes.
            full_body(await get(PROXY, {}))

    asyncio.run(scenario())


def test_a_mapping_for_another_directory_falls_back_to_the_bytes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with registry(tmp_path, ["10.0.0.0/8"]) as get:
            elsewhere = {**offer(tmp_path), "X-Accel-Mapping": "/srv/other/blobs/=/_b/"}
            full_body(await get(PROXY, elsewhere))
            resp = await get(PROXY, {**elsewhere, "Range": "bytes=10-19"})
            assert resp.status_code == 206 and resp.content == DATA[10:20]
            assert "x-accel-redirect" not in resp.headers

    asyncio.run(scenario())
