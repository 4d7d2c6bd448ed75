"""Scans of images: queued on demand, run by a background worker, read with filters.

A scan is keyed by the image manifest's digest in its repository. It is queued with a
``image-scan`` job in the same transaction (it survives the request and a worker's crash;
a job run again scans again, which is harmless). The worker writes the image as an OCI
layout of the stored blobs, runs syft, matches the packages against the vulnerability
database, stores the CycloneDX SBOM as an OCI artifact whose ``subject`` is the image (the
referrers API, replication and GC then treat it as any referrer), and records the result
with the database version it used. syft failing to read the image fails the scan with its
reason; an image without a package database is a done scan with no packages.
Scanning is Advanced-only (``Feature.IMAGE_SCANNING``).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import DockyardError, InvalidInputError, NotFoundError
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import scans as q
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ContentService, ManifestView
from dockyard.services.paging import Page, PageRequest
from dockyard.services.scanning.external import ExternalScanError, ExternalScanners, merged
from dockyard.services.scanning.matching import InstalledPackage
from dockyard.services.scanning.osv import SEVERITIES, severity_rank
from dockyard.services.scanning.sbom import (
    CYCLONEDX_JSON,
    SbomError,
    ScanPackage,
    installed_package,
    packages_of,
    run_syft,
    write_layout,
)
from dockyard.services.scanning.vulndb import BUILTIN_SCANNER, VulnDbService, Vulnerability
from dockyard.services.tenancy import RepositoryRef
from dockyard.services.tenancy.editions import Feature, require_feature

log = structlog.get_logger(__name__)

SCAN_ACTION = "cr:ScanImage"
SCAN_JOB_KIND = "image-scan"
QUEUED, SCANNING, DONE, FAILED = "queued", "scanning", "done", "failed"
#: Who pushes the SBOM referrers.
SCANNER = "dockyard-scanner"
EMPTY_CONFIG = b"{}"
#: Scans one re-match transaction reads at a time.
REMATCH_BATCH = 100
#: The SBOM layer's file name (``oras pull`` writes it so).
SBOM_FILE = "sbom.cdx.json"


@dataclass(frozen=True, slots=True)
class ScanView:
    repository: str
    digest: str
    state: str
    reason: str | None
    db_version: int | None
    sbom_digest: str | None
    os: str | None
    packages: tuple[ScanPackage, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    queued_at: datetime
    finished_at: datetime | None
    #: Every vulnerability per severity (most severe first), whatever the filter.
    counts: dict[str, int]


def _row_view(repository: str, row: Any, minimum: str | None) -> ScanView:
    findings = tuple(
        Vulnerability(**{**v, "aliases": tuple(v["aliases"])}) for v in row.vulnerabilities
    )
    found = Counter(f.severity for f in findings)
    counts = {severity: found[severity] for severity in reversed(SEVERITIES)}
    if minimum is not None:
        floor = severity_rank(minimum)
        findings = tuple(f for f in findings if severity_rank(f.severity) >= floor)
    return ScanView(
        repository,
        row.digest,
        row.state,
        row.reason,
        row.db_version,
        row.sbom_digest,
        row.os,
        tuple(ScanPackage(**p) for p in row.packages),
        findings,
        row.queued_at,
        row.finished_at,
        counts,
    )


def is_image(view: ManifestView) -> bool:
    """An image manifest with an image config: what can be scanned (and is gated), unlike
    an index, an SBOM, a signature or another artifact."""
    if view.media_type not in mt.IMAGE_MANIFESTS:
        return False
    try:
        manifest = json.loads(view.content)
    except ValueError:
        return False
    config = manifest.get("config") or {}
    return "artifactType" not in manifest and config.get("mediaType") in mt.IMAGE_CONFIGS


def _stored(found: Vulnerability) -> dict[str, Any]:
    return {**asdict(found), "aliases": list(found.aliases)}


def scan_payload(repo: RepositoryRef, digest: str) -> dict[str, object]:
    """An ``image-scan`` job's payload: the repository as the worker needs it, the digest."""
    return {"repository": {**asdict(repo), "id": str(repo.id)}, "digest": digest}


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _layer_digests(manifest: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
    """Layer diff id (what syft names) -> the layer's digest as pushed."""
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = [layer.get("digest") for layer in manifest.get("layers") or ()]
    return {str(diff): str(layer) for diff, layer in zip(diff_ids, layers, strict=False)}


class ScanService:
    def __init__(
        self,
        db: Database,
        content: ContentService,
        vulndb: VulnDbService,
        audit: AuditLog,
        *,
        external: ExternalScanners | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._db = db
        self._content = content
        self._vulndb = vulndb
        self._audit = audit
        self._external = external
        self._clock = clock

    async def request(
        self, repo: RepositoryRef, reference: str, *, actor: Actor | None, resource: str
    ) -> ScanView:
        """Queue a scan of the image ``reference`` names (a tag or a digest)."""
        require_feature(repo.instance, Feature.IMAGE_SCANNING)
        manifest = await self._content.get_manifest(repo, reference)
        if not is_image(manifest):
            raise InvalidInputError(
                f"{reference} is not an image ({manifest.media_type}); "
                "scan an index with POST …/images/{reference}/scans"
            )
        await self._queue(repo, [manifest.digest], actor, resource)
        return await self.result(repo, manifest.digest)

    async def request_all(
        self, repo: RepositoryRef, reference: str, *, actor: Actor | None, resource: str
    ) -> tuple[ManifestView, list[ScanView]]:
        """Queue a scan of the image ``reference`` names, or of every platform image of
        the index it names (those stored in the repository); the manifest and the scans."""
        require_feature(repo.instance, Feature.IMAGE_SCANNING)
        manifest = await self._content.get_manifest(repo, reference)
        if is_image(manifest):
            digests = [manifest.digest]
        elif manifest.media_type in mt.INDEXES:
            digests = await self._platform_images(repo, manifest)
        else:
            raise InvalidInputError(
                f"{reference} is neither an image nor an index ({manifest.media_type})"
            )
        await self._queue(repo, digests, actor, resource)
        return manifest, [await self.result(repo, digest) for digest in digests]

    async def _platform_images(self, repo: RepositoryRef, index: ManifestView) -> list[str]:
        """The digests of an index's children that are images stored in the repository
        (attestations and other artifacts are not scanned)."""
        digests = []
        for child in json.loads(index.content).get("manifests") or ():
            if child.get("mediaType") not in mt.IMAGE_MANIFESTS:
                continue
            try:
                found = await self._content.get_manifest(repo, str(child.get("digest")))
            except NotFoundError:
                continue
            if is_image(found) and found.digest not in digests:
                digests.append(found.digest)
        if not digests:
            raise InvalidInputError(f"index {index.digest} names no image stored here")
        return digests

    async def _queue(
        self, repo: RepositoryRef, digests: list[str], actor: Actor | None, resource: str
    ) -> None:
        now = self._clock.now()
        async with self._db.write() as session:
            for digest in digests:
                await q.queue_scan(
                    session,
                    repo.id,
                    digest,
                    state=QUEUED,
                    requested_by=actor.name if actor else None,
                    queued_at=now,
                )
                jq.add_job(session, SCAN_JOB_KIND, scan_payload(repo, digest), now)
                detail = {"repository": repo.full_name, "digest": digest}
                await self._audit.change(session, actor, SCAN_ACTION, resource, detail)

    async def result(
        self, repo: RepositoryRef, reference: str, *, minimum: str | None = None
    ) -> ScanView:
        """The scan of the image ``reference`` names; ``minimum``: only vulnerabilities of
        that severity or more."""
        require_feature(repo.instance, Feature.IMAGE_SCANNING)
        digest = (
            str(Digest.parse(reference))
            if ":" in reference
            else (await self._content.get_manifest(repo, reference)).digest
        )
        async with self._db.read() as session:
            row = await q.find_scan(session, repo.id, digest)
        if row is None:
            raise NotFoundError(f"{repo.full_name}@{digest} has not been scanned")
        return _row_view(repo.full_name, row, minimum)

    async def list_scans(self, repo: RepositoryRef, page: PageRequest) -> Page[ScanView]:
        """A repository's scans, most recently queued first."""
        require_feature(repo.instance, Feature.IMAGE_SCANNING)
        async with self._db.read() as session:
            rows, total = await q.scans_of_repository(session, repo.id, page.offset, page.page_size)
        views = [_row_view(repo.full_name, row, None) for row in rows]
        return Page(views, page.page, page.page_size, total)

    # ---- the worker's side -----------------------------------------------------------

    async def execute(self, payload: dict[str, object]) -> ScanView | None:
        """An ``image-scan`` job: scan, record the result or the reason it failed."""
        fields = dict(payload["repository"])  # type: ignore[call-overload]
        repo = RepositoryRef(**{**fields, "id": uuid.UUID(str(fields["id"]))})
        digest = str(payload["digest"])
        async with self._db.write() as session:
            if not await q.set_scan(session, repo.id, digest, state=SCANNING, reason=None):
                return None  # the repository or the scan went meanwhile
        try:
            values = await self._scan(repo, digest)
        except (SbomError, ExternalScanError, DockyardError, OSError) as exc:
            values = {"state": FAILED, "reason": str(exc)}
            log.info("image scan failed", repository=repo.full_name, digest=digest, reason=str(exc))
        async with self._db.write() as session:
            await q.set_scan(session, repo.id, digest, finished_at=self._clock.now(), **values)
        return await self.result(repo, digest)

    async def _scan(self, repo: RepositoryRef, digest: str) -> dict[str, Any]:
        """The built-in scan unless an external scanner replaces it, then each external
        scanner's: one result holding every scanner's findings."""
        manifest_view = await self._content.get_manifest(repo, digest)
        if not is_image(manifest_view):
            raise SbomError(f"not an image: {manifest_view.media_type} with no image config")
        registrations = await self._external.registrations() if self._external else []
        if any(r.instead_of_builtin for r in registrations):
            status = await self._vulndb.status()
            values: dict[str, Any] = {
                "state": DONE,
                "reason": None,
                "db_version": status.version,
                "sbom_digest": None,
                "os": None,
                "packages": [],
                "vulnerabilities": [],
            }
        else:
            values = await self._builtin_scan(repo, manifest_view)
        for registration in registrations:
            assert self._external is not None
            found = await self._external.scan(registration, repo, digest, manifest_view.media_type)
            values["vulnerabilities"] += [_stored(v) for v in found]
        values["vulnerabilities"] = merged(values["vulnerabilities"])
        return values

    async def _builtin_scan(
        self, repo: RepositoryRef, manifest_view: ManifestView
    ) -> dict[str, Any]:
        manifest = json.loads(manifest_view.content)
        config_digest = str(manifest["config"]["digest"])
        layers = [str(layer["digest"]) for layer in manifest.get("layers") or ()]
        config_bytes = await self._read_small(config_digest)

        async def source(blob: str) -> Path | AsyncIterator[bytes]:
            body = await self._content.body_of(blob)
            if body.path is not None:
                return body.path
            return self._content.blob_stream(blob, 0, body.size)

        with tempfile.TemporaryDirectory(prefix="dockyard-scan-") as scratch:
            root = Path(scratch)
            await write_layout(
                root / "layout",
                manifest_view.content,
                manifest_view.media_type,
                [config_digest, *layers],
                source,
            )
            cyclonedx, native = await run_syft(root / "layout", root)
        found, os_name = packages_of(native)
        status = await self._vulndb.status()
        matched = await self._vulndb.match([p.installed() for p in found])
        by_diff_id = _layer_digests(manifest, json.loads(config_bytes))
        sbom_digest = await self._store_sbom(repo, manifest_view, cyclonedx)
        return {
            "state": DONE,
            "reason": None,
            "db_version": status.version,
            "sbom_digest": sbom_digest,
            "os": os_name,
            "packages": [
                asdict(replace(p, layer=by_diff_id.get(p.layer or "", p.layer))) for p in found
            ],
            "vulnerabilities": [_stored(v) for v in matched],
        }

    async def rematch(self, payload: dict[str, object]) -> int:
        """A ``vulndb-rematch`` job: every done scan's stored packages matched against the
        database as it is now (no extraction); how many scans were matched. A job for an
        older version than the database's leaves the work to the newer one's job."""
        status = await self._vulndb.status()
        if int(str(payload.get("version", 0))) < status.version:
            return 0
        after: tuple[uuid.UUID, str] | None = None
        count = 0
        matched: dict[tuple[InstalledPackage, ...], list[dict[str, Any]]] = {}
        while True:
            async with self._db.read() as session:
                batch = await q.done_scans_after(session, after, REMATCH_BATCH)
            if not batch:
                return count
            results = []
            for repository_id, digest, packages, found in batch:
                installed = tuple(
                    installed_package(p["name"], p["version"], p["purl"], p["ecosystem"])
                    for p in packages
                )
                if installed not in matched:  # images sharing their packages match once
                    matched[installed] = [_stored(v) for v in await self._vulndb.match(installed)]
                external = [
                    v for v in found if v.get("scanner", BUILTIN_SCANNER) != BUILTIN_SCANNER
                ]
                results.append((repository_id, digest, merged([*matched[installed], *external])))
            async with self._db.write(durable=False) as session:
                for repository_id, digest, vulnerabilities in results:
                    await q.set_done_scan(
                        session,
                        repository_id,
                        digest,
                        vulnerabilities=vulnerabilities,
                        db_version=status.version,
                    )
            count += len(batch)
            after = batch[-1][0], batch[-1][1]

    async def _read_small(self, digest: str) -> bytes:
        body = await self._content.body_of(digest)
        if body.path is not None:
            return body.path.read_bytes()
        return b"".join([chunk async for chunk in self._content.blob_stream(digest, 0, body.size)])

    async def _store_sbom(self, repo: RepositoryRef, image: Any, cyclonedx: bytes) -> str:
        """Push the SBOM as an OCI artifact whose subject is the image; its digest."""
        blobs = [(mt.OCI_EMPTY, EMPTY_CONFIG), (CYCLONEDX_JSON, cyclonedx)]
        descriptors = []
        for media_type, data in blobs:
            digest = str(Digest.of(data))
            await self._content.monolithic_upload(repo, digest, _once(data))
            descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": CYCLONEDX_JSON,
            "config": descriptors[0],
            "layers": [
                {**descriptors[1], "annotations": {"org.opencontainers.image.title": SBOM_FILE}}
            ],
            "subject": {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": len(image.content),
            },
            "annotations": {"org.opencontainers.image.created": self._clock.now().isoformat()},
        }
        body = json.dumps(manifest, separators=(",", ":")).encode()
        digest = str(Digest.of(body))
        await self._content.put_manifest(repo, digest, body, mt.OCI_MANIFEST, SCANNER)
        return digest
