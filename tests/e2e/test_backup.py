"""``dockyard db backup``: an online backup of a live SQLite registry taken while it is being
pushed to restores (with the master key and the blobs) into a server that serves the same
tags; on PostgreSQL the command runs pg_dump."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.conftest import DockyardServer, ServerFactory
from tests.e2e.regclient import RegistryClient, describe, expect
from tests.pgserver import PostgresServer

pytestmark = pytest.mark.e2e

REPO = "backup/app"


def _backup(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "db", "backup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_sqlite_online_backup_while_pushing_restores_the_same_tags(
    fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    server = fresh_registry()
    pushed: dict[str, str] = {}  # tag -> manifest digest, acknowledged
    with RegistryClient(server.url, *server.admin) as client:
        base = client.random_image(REPO, "base", layers=2, layer_size=64 * 1024)
        pushed["base"] = base.manifest_digest
        for i in range(5):
            pushed[f"before-{i}"] = client.random_image(REPO, f"before-{i}").manifest_digest

        stop = threading.Event()
        failures: list[str] = []

        def keep_pushing() -> None:
            with RegistryClient(server.url, *server.admin) as writer:
                i = 0
                while not stop.is_set():
                    image = writer.random_image(REPO, f"during-{i}", layer_size=4096)
                    pushed[f"during-{i}"] = image.manifest_digest
                    i += 1
                if i == 0:
                    failures.append("no push happened during the backup")

        pusher = threading.Thread(target=keep_pushing, daemon=True)
        pusher.start()
        try:
            target = tmp_path / "backup" / "dockyard.db"
            target.parent.mkdir()
            result = _backup(str(target), "--data-dir", str(server.data_dir), cwd=tmp_path)
        finally:
            stop.set()
            pusher.join(timeout=60)
        assert result.returncode == 0, result.stderr
        assert "backed up" in result.stdout
        assert not failures
        with sqlite3.connect(target) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)

        # Restore: the database file, the master key and the blobs into an empty data dir.
        restored = DockyardServer(tmp_path / "restored", admin_password=server.admin_password)
        shutil.copy(target, restored.data_dir / "dockyard.db")
        shutil.copy(server.data_dir / "master.key", restored.data_dir / "master.key")
        shutil.copytree(
            server.data_dir / "storage" / "blobs", restored.data_dir / "storage" / "blobs"
        )
        restored.start()
        try:
            with RegistryClient(restored.url, *server.admin) as again:
                tags = expect(again.tags(REPO), 200).json()["tags"]
                # Everything acknowledged before the backup began is there ...
                assert {"base", *(f"before-{i}" for i in range(5))} <= set(tags)
                # ... and every tag it has resolves to what was pushed, bytes and all.
                for tag in tags:
                    resp = expect(again.get_manifest(REPO, tag), 200)
                    assert resp.headers["docker-content-digest"] == pushed[tag], tag
                for digest, data in zip(base.layer_digests, base.layers, strict=True):
                    assert expect(again.get_blob(REPO, digest), 200).content == data
                # The restored registry takes new pushes.
                again.random_image(REPO, "after-restore")
                resp = again.get_manifest(REPO, "after-restore")
                assert resp.status_code == 200, describe(resp)
        finally:
            restored.stop()


def test_postgresql_backup_runs_pg_dump(postgres_server: PostgresServer, tmp_path: Path) -> None:
    from dockyard.metadata import migrate

    database = postgres_server.create_database("backup")
    try:
        url = postgres_server.url(database, driver="postgresql")
        migrate.upgrade(url)
        target = tmp_path / "dockyard.dump"
        result = _backup(str(target), "--database-url", url, cwd=tmp_path)
        if shutil.which("pg_dump") is None:
            assert result.returncode == 2 and "pg_dump" in result.stderr
            return
        assert result.returncode == 0, result.stderr
        assert target.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
        listing = subprocess.run(
            ["pg_restore", "--list", str(target)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert "TABLE public repositories" in listing.stdout
    finally:
        postgres_server.drop_database(database)
