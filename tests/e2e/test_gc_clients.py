"""Garbage collection with real clients: images pushed by skopeo, some deleted, ``dockyard
gc run`` over the API; the bytes it reports reclaimed equal what ``du`` says the blob store
shrank by, and the images kept (one of them sharing the deleted image's blobs from another
repository) still pull with podman under their digests."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DockyardServer, ServerFactory
from tests.dockyard_cli import Cli
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

#: No grace period: one run condemns and reclaims (nothing pushes meanwhile here); no
#: scheduled run to interfere.
GC_NOW = {"DOCKYARD_GC_GRACE_SECONDS": "0", "DOCKYARD_GC_INTERVAL_HOURS": "0"}


def du_bytes(path: Path) -> int:
    """``du -sb``: apparent bytes of files and directories under ``path``."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def test_gc_reclaims_what_du_says_and_kept_images_still_pull(
    fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    server: DockyardServer = fresh_registry(env=GC_NOW)
    ns = f"gc{secrets.token_hex(3)}"
    sk = C.Skopeo(tmp_path / "sk")
    kept, shared, doomed = (
        C.make_oci_layout(tmp_path / name, layer_size=300_000, layers=2)
        for name in ("kept", "shared", "doomed")
    )
    pushes = [(kept, f"{ns}/app:kept"), (shared, f"{ns}/app:shared"), (doomed, f"{ns}/app:doomed")]
    pushes.append((shared, f"{ns}/other:shared"))
    for layout, ref in pushes:
        assert sk.copy(layout.oci_ref, f"docker://{server.host}/{ref}", dest_creds=server.admin)
    for ref in (f"{ns}/app:shared", f"{ns}/app:doomed"):
        sk.delete(f"docker://{server.host}/{ref}", creds=server.admin)

    cli = Cli(tmp_path / "cli")
    cli.login(server.url, *server.admin)
    storage = server.data_dir / "storage"
    before = du_bytes(storage / "blobs")
    run = cli.json("gc", "run")
    freed = before - du_bytes(storage / "blobs")
    assert run["status"] == "succeeded" and not run["dryRun"]
    # The doomed image's config and two layers; the shared image's are still named by
    # ns/other. Its manifest is a database row: no blob bytes.
    assert run["blobsDeleted"] == 3
    assert run["bytesReclaimed"] == freed > 600_000

    again = cli.json("gc", "run", "--dry-run")
    assert (again["blobsDeleted"], again["bytesReclaimed"]) == (0, 0)
    status = cli.json("gc", "status")
    assert [r["id"] for r in status[:2]] == [again["id"], run["id"]]
    table = cli.run("gc", "status").stdout
    assert run["id"] in table and "succeeded" in table

    with C.Podman(tmp_path / "pm") as pm:
        for layout, ref in ((kept, f"{ns}/app:kept"), (shared, f"{ns}/other:shared")):
            pm.pull(f"{server.host}/{ref}", creds=server.admin)
            assert pm.image_digest(f"{server.host}/{ref}") == layout.digest
    with RegistryClient(server.url, *server.admin) as registry:
        resp = registry.get(f"/v2/{ns}/app/manifests/{doomed.digest}")
        assert resp.status_code == 404
        assert resp.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        layer = doomed.images[0].layers[0].digest
        assert registry.head(f"/v2/{ns}/app/blobs/{layer}").status_code == 404
