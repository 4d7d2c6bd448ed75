"""External scanners with real parts: a scanner adapter speaking Harbor's Pluggable Scanner
API v1.1 runs as its own HTTP server process (tests/harbor_scanner.py); it pulls each image
from the registry with the pull token the scan request hands it and reports the advisories
the image's dpkg database matches. Its findings join the built-in scanner's, survive a
re-match, and replace them when it is registered instead of the built-in scanner.

Also here: scanning a whole index in one request, on S3 storage (moto's standalone
server), where the SBOM referrers are written as any blob is."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DockyardServer, ServerFactory
from tests.dockyard_cli import Cli
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient
from tests.e2e.test_image_scans import (
    DEBIAN_OS,
    DPKG_STATUS,
    FROM_ZERO,
    RECORDS,
    osv,
    wait_for_scan,
    write_layout,
)
from tests.harbor_scanner import ScannerAdapter, harbor_scanner  # noqa: F401 - fixture
from tests.s3server import MotoServer, dockyard_s3_env, moto_server  # noqa: F401 - fixture

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

#: The adapter's own advisories: libssl3 as installed, zlib1g at another version.
ADVISORIES = """libssl3 3.0.11-1~deb12u1 CVE-2026-9001 High 3.0.11-1~deb12u3
zlib1g 1:1.2.11.dfsg-2 CVE-2026-9002 Critical 1:1.2.13.dfsg-1
"""
API_KEY = "adapter-key"


def by_scanner(scan: dict[str, Any]) -> list[tuple[str, str, str, str, str | None]]:
    return [
        (v["scanner"], v["id"], v["severity"], v["package"], v["fixedVersion"])
        for v in scan["vulnerabilities"]
    ]


def import_records(cli: Cli, root: Path, records: list[dict[str, Any]]) -> int:
    root.mkdir(exist_ok=True)
    for record in records:
        (root / f"{record['id']}.json").write_text(json.dumps(record))
    version: int = cli.json("vulndb", "import", str(root))["version"]
    return version


def test_an_external_scanner_pulls_the_image_and_its_findings_join_the_result(
    fresh_registry: ServerFactory, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: DockyardServer = fresh_registry()
    adapter: ScannerAdapter = request.getfixturevalue("harbor_scanner")(ADVISORIES, API_KEY)
    ns = f"ext{secrets.token_hex(3)}"
    cli = Cli(tmp_path / "cli")
    cli.login(server.url, *server.admin)
    sk = C.Skopeo(tmp_path / "sk")
    layers = [{"etc/os-release": DEBIAN_OS, "var/lib/dpkg/status": DPKG_STATUS}]
    source = write_layout(tmp_path / "debian", layers)
    assert sk.copy(source, f"docker://{server.host}/{ns}/debian:1", dest_creds=server.admin)
    assert import_records(cli, tmp_path / "osv", RECORDS) == 1

    # Registering reads the adapter's metadata: a wrong key or no adapter is refused.
    add = ("scan", "scanner", "add", "testscan", adapter.url, "--registry-url", server.url)
    wrong = cli.run(*add, "--authorization", "Bearer nope", expect=None)
    assert wrong.code != 0
    assert "HTTP 401: missing or wrong API key" in wrong.stderr
    nobody = cli.run("scan", "scanner", "add", "gone", "http://127.0.0.1:9", "--registry-url",
                     server.url, expect=None)  # fmt: skip
    assert nobody.code != 0
    assert "did not answer" in nobody.stderr
    registered = cli.json(*add, "--authorization", f"Bearer {API_KEY}")
    assert (
        registered["adapterName"],
        registered["adapterVersion"],
        registered["reportType"],
        registered["hasAuthorization"],
        registered["insteadOfBuiltin"],
    ) == (
        "TestScan",
        "1.1.0",
        "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
        True,
        False,
    )
    assert "authorization" not in registered
    assert [s["name"] for s in cli.json("scan", "scanner", "list")] == ["testscan"]

    # Besides the built-in scanner: both scanners' findings, one result.
    scan = cli.json("scan", "run", f"{ns}/debian:1", "--wait")
    assert (scan["state"], scan["reason"]) == ("done", None)
    assert by_scanner(scan) == [
        ("testscan", "CVE-2026-9001", "HIGH", "libssl3", "3.0.11-1~deb12u3"),
        ("dockyard", "DSA-0001", "CRITICAL", "libssl3", "3.0.11-1~deb12u2"),
    ]
    assert scan["sbomDigest"] is not None
    assert scan["counts"]["HIGH"] == scan["counts"]["CRITICAL"] == 1

    # A re-match after an import changes the built-in findings only.
    fixed = osv("DSA-0001", "Debian:12", "openssl", FROM_ZERO, {"fixed": "3.0.10-1"})
    assert import_records(cli, tmp_path / "osv2", [fixed]) == 2
    again = wait_for_scan(cli, f"{ns}/debian:1", db_version=2)
    assert by_scanner(again) == [by_scanner(scan)[0]]

    # Instead of the built-in scanner: no SBOM, no package list, the adapter's findings.
    cli.json(*add, "--authorization", f"Bearer {API_KEY}", "--instead-of-builtin")
    instead = cli.json("scan", "run", f"{ns}/debian:1", "--wait")
    assert (instead["sbomDigest"], instead["packages"]) == (None, [])
    assert by_scanner(instead) == [by_scanner(scan)[0]]

    # A namespace refusing pulls of unscanned images does not refuse the adapter's own
    # pull of an image it is to scan (its token is Dockyard's, for that repository).
    cli.json("scan", "policy", "set", ns, "--block-unscanned")
    layers = [{"etc/os-release": DEBIAN_OS, "var/lib/dpkg/status": DPKG_STATUS + "\n"}]
    fresh = write_layout(tmp_path / "debian2", layers)
    assert sk.copy(fresh, f"docker://{server.host}/{ns}/debian:2", dest_creds=server.admin)
    with pytest.raises(C.ClientError) as refused:
        sk.inspect_raw(f"docker://{server.host}/{ns}/debian:2", creds=server.admin)
    assert "refuses pulls of unscanned images" in refused.value.stderr
    gated = cli.json("scan", "run", f"{ns}/debian:2", "--wait")
    assert (gated["state"], by_scanner(gated)) == ("done", by_scanner(instead))
    cli.json("scan", "policy", "set", ns, "--allow-unscanned")

    # An adapter that cannot pull (it is told a registry URL where none answers) fails
    # the scan with the adapter's reason.
    broken = ("scan", "scanner", "add", "testscan", adapter.url, "--registry-url",
              "http://127.0.0.1:9", "--authorization", f"Bearer {API_KEY}",
              "--instead-of-builtin")  # fmt: skip
    cli.json(*broken)
    assert cli.run("scan", "run", f"{ns}/debian:1", "--wait", expect=None).code != 0
    failed = cli.json("scan", "result", f"{ns}/debian:1")
    assert failed["state"] == "failed"
    assert failed["reason"].startswith(
        "scanner testscan: report: HTTP 500: pulling the image failed"
    )

    cli.run("scan", "scanner", "remove", "testscan")
    assert cli.json("scan", "scanner", "list") == []


def push_index(registry: RegistryClient, name: str, tmp_path: Path, sk: C.Skopeo, host: str,
               creds: tuple[str, str]) -> tuple[str, list[str]]:  # fmt: skip
    """Push two platform images and an index of them (with an attestation-like artifact
    the scan must skip); (the index's digest, the platform images' digests)."""
    platforms = []
    for arch, status in (("amd64", DPKG_STATUS), ("arm64", DPKG_STATUS.replace("deb12u1", "x"))):
        layers = [{"etc/os-release": DEBIAN_OS, "var/lib/dpkg/status": status}]
        source = write_layout(tmp_path / arch, layers)
        assert sk.copy(source, f"docker://{host}/{name}:{arch}", dest_creds=creds)
        response = registry.get(
            f"/v2/{name}/manifests/{arch}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        platforms.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": response.headers["Docker-Content-Digest"],
                "size": len(response.content),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": platforms,
    }
    body = json.dumps(index).encode()
    response = registry.put(
        f"/v2/{name}/manifests/multi",
        content=body,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], [p["digest"] for p in platforms]


def test_scanning_an_index_scans_every_platform_and_stores_sboms_on_s3(
    fresh_registry: ServerFactory, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    moto: MotoServer = request.getfixturevalue("moto_server")
    bucket = moto.create_bucket()
    server: DockyardServer = fresh_registry(env=dockyard_s3_env(moto.endpoint_url, bucket))
    ns = f"idx{secrets.token_hex(3)}"
    cli = Cli(tmp_path / "cli")
    cli.login(server.url, *server.admin)
    import_records(cli, tmp_path / "osv", RECORDS)
    sk = C.Skopeo(tmp_path / "sk")
    with RegistryClient(server.url, *server.admin) as registry:
        index_digest, platforms = push_index(
            registry, f"{ns}/app", tmp_path, sk, server.host, server.admin
        )

        # The index by its tag: one request, a scan per platform image.
        batch = cli.json("scan", "run", f"{ns}/app:multi", "--wait")
        assert (batch["digest"], batch["mediaType"]) == (
            index_digest,
            "application/vnd.oci.image.index.v1+json",
        )
        scans = {scan["digest"]: scan for scan in batch["scans"]}
        assert list(scans) == platforms
        assert [s["state"] for s in scans.values()] == ["done", "done"]
        amd64, arm64 = (scans[digest] for digest in platforms)
        assert [v["id"] for v in amd64["vulnerabilities"]] == ["DSA-0001"]
        assert [v["id"] for v in arm64["vulnerabilities"]] == []  # libssl3 "3.0.11-1~x"
        listed = cli.json("scan", "list", f"{ns}/app")
        assert sorted(s["digest"] for s in listed) == sorted(platforms)

        # Each SBOM is a referrer of its platform image, its blobs in the bucket.
        stored = {
            item["Key"].rsplit("/", 1)[-1]
            for page in moto.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])
        }
        for digest, scan in scans.items():
            referrers = registry.get(f"/v2/{ns}/app/referrers/{digest}").json()["manifests"]
            assert [r["digest"] for r in referrers] == [scan["sbomDigest"]]
            sbom_manifest = registry.get(
                f"/v2/{ns}/app/manifests/{scan['sbomDigest']}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            ).json()
            layer = sbom_manifest["layers"][0]["digest"]
            assert layer.removeprefix("sha256:") in stored
            sbom = registry.get(f"/v2/{ns}/app/blobs/{layer}").json()
            assert sbom["bomFormat"] == "CycloneDX"
            assert "libssl3" in {c["name"] for c in sbom["components"]}
