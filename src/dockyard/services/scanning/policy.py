"""Per-namespace scanning policies: scan on push (an outbox subscriber queues the scans)
and the pull gate, which refuses image manifests with vulnerabilities of a severity or
more, or not scanned yet, except for allowlisted ids that have not expired.

The gate runs on every manifest GET of an Advanced instance: one single-statement read of
whether the namespace's policy gates at all, and only when it does, one read of the
policy's allowlist and the image's scan. Indexes, SBOMs,
signatures and other artifacts pass: only image manifests are scanned and gated (an index's
platforms are gated when the client fetches them). Administrators read results through
the API whatever the gate says.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.clock import SYSTEM_CLOCK, Clock
from dockyard.errors import DeniedError, InvalidInputError
from dockyard.events import EventType
from dockyard.metadata.queries import jobs as jq
from dockyard.metadata.queries import scans as q
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.oci import mediatypes as mt
from dockyard.services.audit import Actor, AuditLog
from dockyard.services.content import ManifestView
from dockyard.services.outbox import Event
from dockyard.services.scanning.osv import SEVERITIES, check_severity, severity_rank
from dockyard.services.scanning.scans import (
    DONE,
    QUEUED,
    SCAN_JOB_KIND,
    SCANNER,
    is_image,
    scan_payload,
)
from dockyard.services.tenancy import RepositoryRef, ref_of_key
from dockyard.services.tenancy.editions import Feature, edition, require_feature
from dockyard.services.tenancy.errors import NamespaceNotFoundError

UPDATE_POLICY_ACTION = "cr:UpdateScanPolicy"
SUBSCRIBER_NAME = "scan-on-push"
MAX_ALLOWLIST = 500
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


@dataclass(frozen=True, slots=True)
class AllowedId:
    """A vulnerability id (or alias, e.g. a CVE) the gate ignores until ``expires``."""

    id: str
    expires: date | None = None

    def active(self, today: date) -> bool:
        return self.expires is None or today <= self.expires


@dataclass(frozen=True, slots=True)
class ScanPolicyView:
    namespace: str
    scan_on_push: bool
    block_severity: str | None
    block_unscanned: bool
    allowlist: tuple[AllowedId, ...]


@dataclass(frozen=True, slots=True)
class ScanPolicySpec:
    scan_on_push: bool = False
    block_severity: str | None = None
    block_unscanned: bool = False
    allowlist: tuple[AllowedId, ...] = ()


def check_allowlist(entries: Sequence[AllowedId]) -> tuple[AllowedId, ...]:
    if len(entries) > MAX_ALLOWLIST:
        raise InvalidInputError(f"an allowlist holds at most {MAX_ALLOWLIST} ids")
    for entry in entries:
        if not _ID.match(entry.id):
            raise InvalidInputError(f"{entry.id!r} is not a vulnerability id")
    return tuple(sorted({e.id: e for e in entries}.values(), key=lambda e: e.id))


def _allowlist_of(stored: Sequence[Mapping[str, Any]]) -> tuple[AllowedId, ...]:
    return tuple(
        AllowedId(str(e["id"]), date.fromisoformat(e["expires"]) if e.get("expires") else None)
        for e in stored
    )


def refusal(
    namespace: str,
    policy: ScanPolicySpec,
    scan: tuple[str, Sequence[Mapping[str, Any]]] | None,
    today: date,
) -> str | None:
    """Why the gate refuses an image with this scan (None: it may be pulled)."""
    if scan is None or scan[0] != DONE:
        if policy.block_unscanned:
            state = "not scanned" if scan is None else f"scan {scan[0]}"
            return (
                f"image not scanned ({state}); the scan policy of namespace {namespace} "
                "refuses pulls of unscanned images"
            )
        return None
    if policy.block_severity is None:
        return None
    floor = severity_rank(policy.block_severity)
    allowed = {e.id for e in policy.allowlist if e.active(today)}
    blocking = [
        v
        for v in scan[1]
        if severity_rank(str(v["severity"])) >= floor
        and not ({v["id"], *v.get("aliases", ())} & allowed)
    ]
    if not blocking:
        return None
    counts = Counter(str(v["severity"]) for v in blocking)
    named = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s])
    return (
        f"image has {len(blocking)} vulnerabilities of severity {policy.block_severity} or "
        f"more ({named}); the scan policy of namespace {namespace} refuses pulls of images "
        f"with {policy.block_severity} or above"
    )


class ScanPolicyService:
    def __init__(self, db: Database, audit: AuditLog, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def get(self, instance: Any, namespace: str) -> ScanPolicyView:
        require_feature(instance, Feature.IMAGE_SCANNING)
        async with self._db.read() as session:
            await self._namespace_id(session, instance.id, namespace)
            found = await q.policy_of(session, instance.id, namespace)
        if found is None:
            return ScanPolicyView(namespace, False, None, False, ())
        on_push, severity, unscanned, allowlist = found
        return ScanPolicyView(namespace, on_push, severity, unscanned, _allowlist_of(allowlist))

    async def set(
        self,
        instance: Any,
        namespace: str,
        spec: ScanPolicySpec,
        *,
        actor: Actor | None,
        resource: str,
    ) -> ScanPolicyView:
        require_feature(instance, Feature.IMAGE_SCANNING)
        severity = check_severity(spec.block_severity) if spec.block_severity else None
        allowlist = check_allowlist(spec.allowlist)
        stored = [
            {"id": e.id, "expires": e.expires.isoformat() if e.expires else None} for e in allowlist
        ]
        async with self._db.write() as session:
            namespace_id = await self._namespace_id(session, instance.id, namespace)
            await q.save_policy(
                session,
                namespace_id,
                scan_on_push=spec.scan_on_push,
                block_severity=severity,
                block_unscanned=spec.block_unscanned,
                allowlist=stored,
                updated_at=self._clock.now(),
            )
            detail = {
                "namespace": namespace,
                "scanOnPush": spec.scan_on_push,
                "blockSeverity": severity,
                "blockUnscanned": spec.block_unscanned,
                "allowlist": [e["id"] for e in stored],
            }
            await self._audit.change(session, actor, UPDATE_POLICY_ACTION, resource, detail)
        return await self.get(instance, namespace)

    @staticmethod
    async def _namespace_id(session: AsyncSession, instance_id: str, namespace: str) -> Any:
        row = await tq.find_namespace(session, instance_id, namespace)
        if row is None:
            raise NamespaceNotFoundError(f"namespace {namespace} does not exist")
        return row.id

    async def check_pull(self, repo: RepositoryRef, view: ManifestView) -> None:
        """Raise :class:`DeniedError` naming the counts and the policy when the namespace's
        gate refuses this manifest. The registry calls it only for a manifest whose lookup
        found a blocking policy (:attr:`ManifestView.scan_gated`)."""
        if Feature.IMAGE_SCANNING not in edition(repo.edition).features or not is_image(view):
            return
        namespace = repo.full_name.split("/", 1)[0]
        async with self._db.read() as session:
            found = await q.policy_of(session, repo.instance_id, namespace)
            scan = await q.scan_findings(session, repo.id, view.digest)
        if found is None:
            return  # the policy went meanwhile
        policy = ScanPolicySpec(found[0], found[1], found[2], _allowlist_of(found[3]))
        reason = refusal(namespace, policy, scan, self._today())
        if reason is not None:
            raise DeniedError(reason)

    def _today(self) -> date:
        now: datetime = self._clock.now()
        return now.date()


class ScanOnPushSubscriber:
    """Queues a scan of every image manifest pushed to a namespace that scans on push."""

    name = SUBSCRIBER_NAME
    wants = frozenset({EventType.MANIFEST_PUSHED})

    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db
        self._clock = clock

    @staticmethod
    def _candidate(event: Event) -> bool:
        return (
            event.repository is not None
            and event.payload.get("mediaType") in mt.IMAGE_MANIFESTS
            and event.payload.get("pushedBy") != SCANNER
        )

    async def concerned(self, session: AsyncSession, events: Sequence[Event]) -> Sequence[Event]:
        """Image pushes into namespaces whose policy scans on push now."""
        scanning: dict[tuple[str, str], bool] = {}
        kept = []
        for event in events:
            if not self._candidate(event):
                continue
            where = (event.instance_id, str(event.repository).split("/", 1)[0])
            if where not in scanning:
                found = await q.policy_of(session, *where)
                scanning[where] = found is not None and found[0]
            if scanning[where]:
                kept.append(event)
        return kept

    async def handle(self, events: Sequence[Event]) -> None:
        """Queue the scans (one repository's events); a scan queued again is harmless."""
        for event in events:
            if not self._candidate(event):
                continue
            full_name = str(event.repository)
            key = await tq.repository_key(self._db, event.instance_id, full_name)
            if key is None:
                continue  # deleted since
            repo = ref_of_key(event.instance_id, full_name, *key)
            if Feature.IMAGE_SCANNING not in edition(repo.edition).features:
                continue
            digest = str(event.payload["digest"])
            now = self._clock.now()
            async with self._db.write(durable=False) as session:
                await q.queue_scan(
                    session,
                    repo.id,
                    digest,
                    state=QUEUED,
                    requested_by=SUBSCRIBER_NAME,
                    queued_at=now,
                )
                jq.add_job(session, SCAN_JOB_KIND, scan_payload(repo, digest), now)
