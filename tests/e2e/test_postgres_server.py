"""`dockyard serve --database-url postgresql://…` against a real PostgreSQL.

The PostgreSQL is the session's (``tests/pgserver.py``); the test that restarts it takes it as
``restartable_postgres``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.conftest import ServerFactory
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient, describe, expect
from tests.pgserver import PostgresServer

pytestmark = pytest.mark.e2e

#: The longest a request may take while PostgreSQL restarts: a 503 must come quickly.
REQUEST_TIMEOUT = 20.0
#: After the restart, requests must succeed again within this many seconds.
RECOVERY_SECONDS = 10.0


def _libpq_url(pg: PostgresServer, database: str) -> str:
    """The URL an operator would write (no driver name): Dockyard picks asyncpg."""
    return pg.url(database, driver="postgresql")


def test_db_upgrade_then_serve_and_skopeo_push_pull(
    postgres_server: PostgresServer, fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    database = postgres_server.create_database("e2e")
    url = _libpq_url(postgres_server, database)
    # `db upgrade` configured through the environment, with the short `postgres://` scheme.
    env = {**os.environ, "DOCKYARD_DATABASE_URL": url.replace("postgresql://", "postgres://")}
    upgrade = subprocess.run(
        [sys.executable, "-m", "dockyard", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert "up to date" in upgrade.stdout
    assert "alembic_version" in postgres_server.psql(
        "SELECT tablename FROM pg_tables", database=database
    )

    server = fresh_registry(workers=2, extra_args=["--database-url", url])
    assert not (server.data_dir / "dockyard.db").exists()  # metadata lives in PostgreSQL

    sk = C.Skopeo(tmp_path / "sk")
    info = C.make_oci_layout(tmp_path / "layout", layer_size=128 * 1024, layers=2)
    ref = f"docker://{server.host}/pg/app:v1"
    assert sk.copy(info.oci_ref, ref, dest_creds=server.admin) == info.digest
    assert C._sha256(sk.inspect_raw(ref, creds=server.admin)) == info.digest
    assert sk.list_tags(f"docker://{server.host}/pg/app", creds=server.admin) == ["v1"]
    back = sk.copy(ref, f"oci:{tmp_path / 'back'}:v1", src_creds=server.admin)
    assert back == info.digest
    for blob in info.blobs():
        pulled = tmp_path / "back" / "blobs" / "sha256" / blob.digest[7:]
        assert C._sha256(pulled.read_bytes()) == blob.digest

    rows = postgres_server.psql(
        "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id "
        "WHERE r.full_name = 'pg/app'",
        database=database,
    )
    assert rows.split() == [info.digest]
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_postgres_restart_during_requests_gives_503_then_recovers(
    restartable_postgres: PostgresServer, fresh_registry: ServerFactory
) -> None:
    url = _libpq_url(restartable_postgres, restartable_postgres.create_database("restart"))
    server = fresh_registry(workers=2, extra_args=["--database-url", url])
    repo = "pg/restart"
    statuses: list[tuple[float, str, int | str]] = []
    stop = threading.Event()
    restarted_at: list[float] = []

    with RegistryClient(server.url, *server.admin, timeout=REQUEST_TIMEOUT) as client:
        image = client.random_image(repo, "base")
        # Tokens for pull and push are fetched now, while the database is up.
        expect(client.get_manifest(repo, "base"), 200)

        def loop() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                started = time.monotonic()
                try:
                    if i % 2:
                        resp = client.get_manifest(repo, "base")
                        kind = "GET"
                    else:
                        resp = client.put_manifest(repo, f"t{i}", image.manifest)
                        kind = "PUT"
                    result: int | str = resp.status_code
                    if resp.status_code not in (200, 201, 503):
                        result = f"{resp.status_code}: {describe(resp)}"
                except httpx.HTTPError as exc:
                    kind, result = (
                        "?",
                        f"{type(exc).__name__} after {time.monotonic() - started:.1f}s",
                    )
                statuses.append((time.monotonic(), kind, result))
                time.sleep(0.01)

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        try:
            time.sleep(1.5)
            restartable_postgres.restart("fast")
            restarted_at.append(time.monotonic())
            time.sleep(RECOVERY_SECONDS + 2)
        finally:
            stop.set()
            worker.join(timeout=REQUEST_TIMEOUT + 5)
        assert not worker.is_alive(), "a request hung"

        counts = Counter(result for _, _, result in statuses)
        print(f"responses around the PostgreSQL restart: {dict(counts)}")
        bad = [(kind, result) for _, kind, result in statuses if result not in (200, 201, 503)]
        assert not bad, f"responses other than 2xx/503: {bad[:5]} (all: {counts})"
        before = [r for t, _, r in statuses if t < restarted_at[0] - 1.0]
        assert before and all(r in (200, 201) for r in before), counts

        # Recovered by itself: from some moment shortly after the restart, every request works.
        after = [(t, r) for t, _, r in statuses if t >= restarted_at[0]]
        failures = [t for t, r in after if r == 503]
        recovered_at = max(failures, default=restarted_at[0])
        assert recovered_at - restarted_at[0] < RECOVERY_SECONDS, counts
        assert sum(1 for t, r in after if t > recovered_at and r in (200, 201)) >= 10, counts

        # And nothing is half-written: every tag the loop got a 201 for resolves.
        expect(client.get_manifest(repo, "base"), 200)
        tags = client.tags(repo).json()["tags"]
        assert "base" in tags
    assert httpx.get(f"{server.url}/readyz").status_code == 200
