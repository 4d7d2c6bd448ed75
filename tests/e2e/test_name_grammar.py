"""Names outside the OCI grammar: a real client's push is refused with ``NAME_INVALID``, and
``dockyard db upgrade`` lists the names an older Dockyard stored (they stay usable)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from tests.conftest import DockyardServer
from tests.e2e import clients as C

from dockyard.metadata.models import Account, Instance
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database

pytestmark = pytest.mark.e2e


def test_client_push_outside_the_grammar_is_name_invalid(
    registry: DockyardServer, tmp_path: Path
) -> None:
    # python-dxf sends any name; skopeo and podman refuse `a___b` themselves before asking.
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"layer bytes" * 100)
    refused_client = C.dxf_client(registry.host, "a___b/app", *registry.admin)
    with pytest.raises(requests.HTTPError) as refused:
        refused_client.push_blob(str(blob))
    assert refused.value.response.status_code == 400
    (error,) = refused.value.response.json()["errors"]
    assert error["code"] == "NAME_INVALID"
    assert "invalid namespace 'a___b'" in error["message"]
    # The same push under a conforming name goes in.
    accepted = C.dxf_client(registry.host, "a__b/app", *registry.admin)
    digest = accepted.push_blob(str(blob))
    assert b"".join(accepted.pull_blob(digest)) == blob.read_bytes()


def _db_upgrade(data_dir: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "db", "upgrade", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_db_upgrade_lists_names_outside_the_grammar(tmp_path: Path) -> None:
    assert "outside the OCI name grammar" not in _db_upgrade(tmp_path)

    async def store_legacy() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'dockyard.db'}")
        try:
            async with db.write() as session:
                account = Account(arn_id="1234567890123456", name="test")
                session.add(account)
                await session.flush()
                session.add(
                    Instance(
                        id="default",
                        account_id=account.id,
                        name="default",
                        region="local",
                        edition="Standard",
                    )
                )
                await session.flush()
                legacy = await tq.insert_namespace_if_absent(session, "default", "old___ns")
                await tq.insert_repository_if_absent(session, legacy, "app", "crr-legacy1")
                fine = await tq.insert_namespace_if_absent(session, "default", "team_a")
                await tq.insert_repository_if_absent(session, fine, "b-_c", "crr-legacy2")
                await tq.insert_repository_if_absent(session, fine, "d__e", "crr-fine")
        finally:
            await db.dispose()

    asyncio.run(store_legacy())
    listed = [
        line
        for line in _db_upgrade(tmp_path).splitlines()
        if "outside the OCI name grammar" in line
    ]
    assert [line.split(" is outside")[0] for line in listed] == [
        "namespace old___ns (instance default)",
        "repository old___ns/app (instance default)",
        "repository team_a/b-_c (instance default)",
    ]
