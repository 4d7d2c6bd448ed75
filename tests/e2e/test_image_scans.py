"""Image scanning with real parts: images written here as OCI layouts (tar layers holding a
Debian ``var/lib/dpkg/status``, an Alpine ``lib/apk/db/installed``, Python ``*.dist-info``,
npm ``package.json`` files and ``/etc/os-release``) pushed by skopeo; OSV records written
here imported with ``dockyard vulndb import``; real syft in the background worker. The
findings are asserted exactly, including versions on a fixed boundary that must not match,
advisories of another release, and binary package names that advisories do not use. The
SBOM is a referrer of the image: listed by the referrers API and pulled by oras."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DockyardServer, ServerFactory
from tests.dockyard_cli import Cli
from tests.e2e import clients as C
from tests.e2e.regclient import RegistryClient

pytestmark = [pytest.mark.e2e, pytest.mark.clients]

CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
MEDIUM_VECTOR = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"
DEBIAN_OS = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
ALPINE_OS = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'
DPKG_STATUS = """Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - shared libraries

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell

"""
APK_INSTALLED = """C:Q1fmsHR0rUJ4zOWvpZ2Wx5bTxKQmU=
P:busybox
V:1.36.1-r15
A:x86_64
S:500000
I:900000
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
t:1700000000

C:Q1bZP1VXmWDuCwCfJYhPRDhwQ7YN8=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:400000
I:600000
T:the musl c library
U:https://musl.libc.org/
L:MIT
o:musl
t:1700000000

"""


def dist_info(name: str, version: str) -> dict[str, str]:
    base = f"usr/lib/python3/dist-packages/{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    return {f"{base}/METADATA": metadata, f"{base}/RECORD": ""}


def npm_package(name: str, version: str) -> dict[str, str]:
    return {f"app/node_modules/{name}/package.json": json.dumps({"name": name, "version": version})}


def write_layout(root: Path, layers: list[dict[str, str] | bytes], tag: str = "latest") -> str:
    """An OCI layout of one image whose layers hold ``files`` (or are the raw bytes given,
    for a layer nothing can read); the ``oci:`` reference skopeo copies from."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, Any]:
        hex_ = hashlib.sha256(data).hexdigest()
        (blobs / hex_).write_bytes(data)
        return {"digest": f"sha256:{hex_}", "size": len(data)}

    descriptors, diff_ids = [], []
    for layer in layers:
        if isinstance(layer, bytes):
            tar, blob = layer, layer
        else:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as archive:
                for name, text in sorted(layer.items()):
                    data = text.encode()
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(data), 0o644
                    archive.addfile(info, io.BytesIO(data))
            tar = buffer.getvalue()
            blob = gzip.compress(tar, mtime=0)
        diff_ids.append(f"sha256:{hashlib.sha256(tar).hexdigest()}")
        descriptors.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(blob)}
        )
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **put(json.dumps(config).encode()),
        },
        "layers": descriptors,
    }
    described = put(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **described,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{root}:{tag}"


def osv(record_id: str, ecosystem: str, name: str, *events: dict[str, str], **extra: Any) -> Any:
    return {
        "id": record_id,
        "modified": "2026-11-01T00:00:00Z",
        "summary": f"{name}: a test advisory",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
            }
        ],
        **extra,
    }


FROM_ZERO = {"introduced": "0"}
RECORDS = [
    # Debian advisories name the source package (openssl, not libssl3).
    osv("DSA-0001", "Debian:12", "openssl", FROM_ZERO, {"fixed": "3.0.11-1~deb12u2"},
        aliases=["CVE-2026-0001"], severity=[{"type": "CVSS_V3", "score": CRITICAL_VECTOR}]),
    osv("DSA-0002", "Debian:12", "zlib", FROM_ZERO, {"fixed": "1:1.2.13.dfsg-1"}),  # = installed
    osv("DSA-0003", "Debian:11", "openssl", FROM_ZERO, {"fixed": "9.9-1"}),  # another release
    osv("DSA-0004", "Debian:12", "libssl3", FROM_ZERO, {"fixed": "9.9-1"}),  # a binary name
    osv("ALPINE-0001", "Alpine:v3.19", "busybox", FROM_ZERO, {"fixed": "1.36.1-r16"},
        database_specific={"severity": "HIGH"}),
    osv("ALPINE-0002", "Alpine:v3.19", "musl", FROM_ZERO, {"fixed": "1.2.4_git20230717-r4"}),
    osv("GHSA-0001", "PyPI", "requests", {"introduced": "2.3.0"}, {"fixed": "2.31.0"},
        aliases=["CVE-2023-32681"], severity=[{"type": "CVSS_V3", "score": MEDIUM_VECTOR}]),
    osv("GHSA-0002", "PyPI", "jinja2", FROM_ZERO, {"fixed": "3.1.3"}),  # = installed
    osv("GHSA-0003", "npm", "lodash", FROM_ZERO, {"last_affected": "4.17.20"},
        database_specific={"severity": "LOW"}),
    osv("GHSA-0004", "npm", "minimist", FROM_ZERO, {"fixed": "1.2.6"}),  # = installed
]  # fmt: skip


def wait_for_scan(cli: Cli, image: str, db_version: int = 1) -> dict[str, Any]:
    """The image's scan once it has finished against database ``db_version`` (the
    background worker runs scans and re-matches)."""
    while True:
        found = cli.run("scan", "result", image, "--json", expect=None)
        if found.code == 0:
            scan: dict[str, Any] = json.loads(found.stdout)
            if scan["state"] in ("done", "failed") and scan["dbVersion"] == db_version:
                return scan
        time.sleep(0.2)


def findings(scan: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (v["id"], v["package"], v["version"], v["fixedVersion"], v["severity"], v["aliases"])
        for v in scan["vulnerabilities"]
    ]


def test_scans_find_exactly_the_affected_packages_and_store_the_sbom_as_a_referrer(
    fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    server: DockyardServer = fresh_registry()
    ns = f"scan{secrets.token_hex(3)}"
    sk = C.Skopeo(tmp_path / "sk")
    debian_app = {
        **dist_info("requests", "2.30.0"),
        **dist_info("Jinja2", "3.1.3"),
        **npm_package("lodash", "4.17.20"),
        **npm_package("minimist", "1.2.6"),
    }
    images = {
        "debian": [{"etc/os-release": DEBIAN_OS, "var/lib/dpkg/status": DPKG_STATUS}, debian_app],
        "alpine": [{"etc/os-release": ALPINE_OS, "lib/apk/db/installed": APK_INSTALLED}],
        "plain": [{"srv/readme.txt": "no package database here\n"}],
        "broken": [b"this layer is not a gzip'd tar" * 4],
    }
    for name, layers in images.items():
        source = write_layout(tmp_path / name, layers)
        assert sk.copy(source, f"docker://{server.host}/{ns}/{name}:1", dest_creds=server.admin)

    cli = Cli(tmp_path / "cli")
    cli.login(server.url, *server.admin)
    records = tmp_path / "osv"
    records.mkdir()
    for record in RECORDS:
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    assert cli.json("vulndb", "import", str(records))["version"] == 1

    debian = cli.json("scan", "run", f"{ns}/debian:1", "--wait")
    assert (debian["state"], debian["reason"], debian["os"], debian["dbVersion"]) == (
        "done",
        None,
        "Debian:12",
        1,
    )
    assert findings(debian) == [
        ("DSA-0001", "libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "CRITICAL",
         ["CVE-2026-0001"]),
        ("GHSA-0001", "requests", "2.30.0", "2.31.0", "MEDIUM", ["CVE-2023-32681"]),
        ("GHSA-0003", "lodash", "4.17.20", None, "LOW", []),
    ]  # fmt: skip
    assert debian["counts"] == {"CRITICAL": 1, "HIGH": 0, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 0}
    packages = {(p["name"], p["version"], p["ecosystem"]) for p in debian["packages"]}
    assert packages == {
        ("libssl3", "3.0.11-1~deb12u1", "Debian:12"),
        ("zlib1g", "1:1.2.13.dfsg-1", "Debian:12"),
        ("bash", "5.2.15-2+b2", "Debian:12"),
        ("requests", "2.30.0", "PyPI"),
        ("jinja2", "3.1.3", "PyPI"),  # syft reports the normalized name
        ("lodash", "4.17.20", "npm"),
        ("minimist", "1.2.6", "npm"),
    }
    manifest = json.loads(
        sk.inspect_raw(f"docker://{server.host}/{ns}/debian:1", creds=server.admin)
    )
    os_layer, app_layer = (layer["digest"] for layer in manifest["layers"])
    layer_of = {p["name"]: p["layer"] for p in debian["packages"]}
    assert (layer_of["libssl3"], layer_of["requests"], layer_of["lodash"]) == (
        os_layer,
        app_layer,
        app_layer,
    )

    listed = cli.json("scan", "list", f"{ns}/debian")
    assert [(s["digest"], s["state"]) for s in listed] == [(debian["digest"], "done")]

    high = cli.json("scan", "result", f"{ns}/debian:1", "--severity", "HIGH")
    assert [v["id"] for v in high["vulnerabilities"]] == ["DSA-0001"]
    assert high["counts"] == debian["counts"]

    alpine = cli.json("scan", "run", f"{ns}/alpine:1", "--wait")
    assert (alpine["state"], alpine["os"]) == ("done", "Alpine:v3.19")
    assert findings(alpine) == [("ALPINE-0001", "busybox", "1.36.1-r15", "1.36.1-r16", "HIGH", [])]

    plain = cli.json("scan", "run", f"{ns}/plain:1", "--wait")
    assert (plain["state"], plain["packages"], plain["vulnerabilities"]) == ("done", [], [])

    broken = cli.run("scan", "run", f"{ns}/broken:1", "--wait", "--json", expect=None)
    assert broken.code != 0
    failed = cli.json("scan", "result", f"{ns}/broken:1")
    assert failed["state"] == "failed"
    assert "syft could not read the image" in failed["reason"]
    assert "tar" in failed["reason"]

    # The SBOM: a referrer of the image, listed by the referrers API, pulled by oras.
    with RegistryClient(server.url, *server.admin) as registry:
        listed = registry.get(f"/v2/{ns}/debian/referrers/{debian['digest']}").json()
    assert [(m["digest"], m["artifactType"]) for m in listed["manifests"]] == [
        (debian["sbomDigest"], "application/vnd.cyclonedx+json")
    ]
    oras = C.oras_client(server.host, *server.admin, auth_backend="basic")
    pulled = C.oras_pull(oras, f"{server.host}/{ns}/debian@{debian['sbomDigest']}", tmp_path / "o")
    assert [Path(p).name for p in pulled] == ["sbom.cdx.json"]
    sbom = json.loads(Path(pulled[0]).read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert {"libssl3", "requests", "lodash"} <= {c["name"] for c in sbom["components"]}

    # The database says openssl's fix is older: the import re-matches every stored scan
    # (no new SBOM), and the finding is gone.
    fixed = osv("DSA-0001", "Debian:12", "openssl", FROM_ZERO, {"fixed": "3.0.10-1"})
    (records / "DSA-0001.json").write_text(json.dumps(fixed))
    assert cli.json("vulndb", "import", str(records / "DSA-0001.json"))["version"] == 2
    again = wait_for_scan(cli, f"{ns}/debian:1", db_version=2)
    assert [v["id"] for v in again["vulnerabilities"]] == ["GHSA-0001", "GHSA-0003"]
    assert again["sbomDigest"] == debian["sbomDigest"]
    assert (
        wait_for_scan(cli, f"{ns}/alpine:1", db_version=2)["vulnerabilities"]
        == (alpine["vulnerabilities"])
    )


def test_scan_on_push_and_the_pull_gate_with_podman(
    fresh_registry: ServerFactory, tmp_path: Path
) -> None:
    server: DockyardServer = fresh_registry()
    ns = f"gate{secrets.token_hex(3)}"
    cli = Cli(tmp_path / "cli")
    cli.login(server.url, *server.admin)
    cli.run("namespace", "create", ns)
    records = tmp_path / "osv"
    records.mkdir()
    for record in RECORDS:
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    cli.json("vulndb", "import", str(records))
    policy = cli.json("scan", "policy", "set", ns, "--scan-on-push", "--block-unscanned")
    assert (policy["scanOnPush"], policy["blockSeverity"], policy["blockUnscanned"]) == (
        True,
        None,
        True,
    )

    sk = C.Skopeo(tmp_path / "sk")
    source = write_layout(
        tmp_path / "debian", [{"etc/os-release": DEBIAN_OS, "var/lib/dpkg/status": DPKG_STATUS}]
    )
    image = f"{server.host}/{ns}/app:1"
    assert sk.copy(source, f"docker://{image}", dest_creds=server.admin)
    scan = wait_for_scan(cli, f"{ns}/app:1")
    assert (scan["state"], [v["id"] for v in scan["vulnerabilities"]]) == ("done", ["DSA-0001"])

    cli.run("scan", "policy", "set", ns, "--block-severity", "HIGH")
    with C.Podman(tmp_path / "pm") as podman:
        with pytest.raises(C.ClientError) as refused:
            podman.pull(image, creds=server.admin)
        message = str(refused.value)
        assert "1 vulnerabilities of severity HIGH or more (1 CRITICAL)" in message
        assert f"scan policy of namespace {ns}" in message
        # An administrator still reads the result.
        assert cli.json("scan", "result", f"{ns}/app:1")["counts"]["CRITICAL"] == 1

        # Allowlisted by its CVE alias (expired entries do not count): pulled.
        cli.run("scan", "policy", "set", ns, "--allow", "CVE-2026-0001@2000-01-01")
        with pytest.raises(C.ClientError):
            podman.pull(image, creds=server.admin)
        cli.run("scan", "policy", "set", ns, "--allow", "CVE-2026-0001")
        assert podman.pull(image, creds=server.admin)

        # Without the allowlist, at CRITICAL the gate refuses again; after the database
        # says openssl is fixed and the image is scanned again, it is pulled.
        cli.run("scan", "policy", "set", ns, "--allow", "", "--block-severity", "CRITICAL")
        podman.rmi(image)
        with pytest.raises(C.ClientError):
            podman.pull(image, creds=server.admin)
        fixed = osv("DSA-0001", "Debian:12", "openssl", FROM_ZERO, {"fixed": "3.0.10-1"})
        (records / "DSA-0001.json").write_text(json.dumps(fixed))
        cli.json("vulndb", "import", str(records / "DSA-0001.json"))
        assert cli.json("scan", "run", f"{ns}/app:1", "--wait")["vulnerabilities"] == []
        assert podman.pull(image, creds=server.admin)
