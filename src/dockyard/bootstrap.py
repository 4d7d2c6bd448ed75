"""The composition root: Settings → database, blob store, services, faces.

The only module that names concrete drivers.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from dockyard.settings import Settings
from dockyard.storage import layout

# The local commands (``dockyard db``, ``dockyard nginx-config``) import this module too:
# the faces, services and drivers are imported by the functions that build with them, so
# those commands load only what they use.
if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.types import ASGIApp

    from dockyard.metadata.migrate import AppliedMigration
    from dockyard.metadata.session import Database
    from dockyard.outbound import OutboundPolicy
    from dockyard.registry.routes import RegistryApp
    from dockyard.services.audit import AuditLog
    from dockyard.services.content import ContentService
    from dockyard.services.credentials import TokenService
    from dockyard.services.gc import GcPolicy
    from dockyard.services.replication import ReplicationRunner
    from dockyard.services.scanning import ExternalScanners
    from dockyard.services.secrets import MasterKey
    from dockyard.services.tenancy import NonconformingNames, RepositoryRef
    from dockyard.services.triggers import OutboundResponse
    from dockyard.storage.base import BlobStore
    from dockyard.workers.runtime import BackgroundWorker

log = structlog.get_logger(__name__)

#: How often the audit log and the published outbox events are pruned.
PRUNE_INTERVAL = timedelta(hours=1)
#: How often due retention schedules are looked for: schedules name a minute of the day.
RETENTION_SCHEDULE_INTERVAL = timedelta(minutes=1)


def make_blob_store(settings: Settings) -> BlobStore:
    from dockyard.storage.filesystem import FilesystemBlobStore

    if settings.storage and settings.storage.startswith("s3://"):
        from dockyard.storage.s3 import S3BlobStore, S3Config, parse_storage_url

        bucket, prefix = parse_storage_url(settings.storage)
        secret = settings.s3_secret_access_key
        return S3BlobStore(
            S3Config(
                bucket=bucket,
                prefix=prefix,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret else None,
                path_style=settings.s3_path_style,
                presign_redirects=settings.s3_presign_redirects,
                presign_ttl_seconds=settings.s3_presign_ttl_seconds,
                spool_dir=settings.spool_dir,
                part_size=settings.s3_part_size_mib * 1024 * 1024,
            )
        )
    return FilesystemBlobStore(settings.blob_root)


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """Where webhook deliveries (and later replication) may connect: the two webhook
    settings, and this node's own listening endpoints so no trigger delivers to Dockyard
    itself. A named listen host is resolved here, once, at start."""
    from dockyard.outbound import OutboundPolicy, listening_endpoints
    from dockyard.proxy import parse_networks

    return OutboundPolicy(
        deny_private=settings.webhook_deny_private,
        allowed=parse_networks(settings.webhook_allowed_cidrs),
        own_endpoints=listening_endpoints(settings.host, settings.port),
    )


def gc_policy(settings: Settings) -> GcPolicy:
    """Garbage collection's grace period and untagged-manifest age, from the settings."""
    from dockyard.services.gc import GcPolicy

    hours = settings.gc_untagged_manifest_hours
    return GcPolicy(
        grace=timedelta(seconds=settings.gc_grace_seconds),
        untagged_age=timedelta(hours=hours) if hours > 0 else None,
        lease=timedelta(seconds=settings.gc_lease_seconds),
    )


def load_master_key(settings: Settings, *, create: bool) -> MasterKey:
    from dockyard.services.secrets import MasterKey

    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    return MasterKey.load(settings.data_dir, configured, create=create)


async def close_resources(db: Database, store: BlobStore) -> None:
    await db.dispose()
    close = getattr(store, "aclose", None)  # drivers with connection pools
    if close is not None:
        await close()


@dataclass
class Container:
    """Everything one HTTP worker process serves with."""

    settings: Settings
    db: Database
    store: BlobStore
    tokens: TokenService
    registry: RegistryApp
    #: The management API (``/api/``).
    api: ASGIApp
    #: ``/metrics`` (Prometheus text format, behind its access rules).
    metrics: ASGIApp | None = None
    #: The web console (``/console``).
    console: ASGIApp | None = None

    async def start(self) -> None:
        await self.tokens.load_keys()

    async def stop(self) -> None:
        await close_resources(self.db, self.store)

    async def check_ready(self) -> None:
        from sqlalchemy import text

        async with self.db.read() as session:
            await session.execute(text("SELECT 1"))
        await self.store.check()


def build(settings: Settings) -> Container:
    from dockyard.api import ApiServices, create_api
    from dockyard.metadata.pools import watch_checkouts
    from dockyard.metadata.session import Database

    # The metrics modules load prometheus_client: only serving processes may, after the
    # serving parent has set up the multiprocess directory (see dockyard.supervisor).
    from dockyard.metrics.access import MetricsAccess
    from dockyard.metrics.exposition import MetricsEndpoint
    from dockyard.metrics.instruments import DB_CONNECTIONS_IN_USE
    from dockyard.metrics.storage import CountingBlobStore
    from dockyard.proxy import parse_networks
    from dockyard.registry.auth import RegistryAuth
    from dockyard.registry.context import RegistryServices
    from dockyard.registry.routes import RegistryApp
    from dockyard.registry.token import TokenEndpoint
    from dockyard.services.access import AccountLookup
    from dockyard.services.audit import AuditLog
    from dockyard.services.content import ContentService, PullGate
    from dockyard.services.credentials import (
        AuthRateLimiter,
        CredentialsService,
        CredentialVerifier,
        TokenService,
    )
    from dockyard.services.gc import GarbageCollector
    from dockyard.services.identity import IdentityServices
    from dockyard.services.jobs import JobsService
    from dockyard.services.observability import ObservabilityService
    from dockyard.services.replication import ReplicationRules, ReplicationService
    from dockyard.services.retention import RetentionService
    from dockyard.services.scanning import ScanPolicyService, ScanService, VulnDbService
    from dockyard.services.signin import SignInService
    from dockyard.services.signing import SignaturePolicyService, SigningService
    from dockyard.services.tenancy import TenancyService
    from dockyard.services.triggers import TriggersService
    from dockyard.services.usage import UsageService

    db = Database(settings.resolved_database_url)
    watch_checkouts(db, DB_CONNECTIONS_IN_USE.inc, DB_CONNECTIONS_IN_USE.dec)
    store: BlobStore = CountingBlobStore(make_blob_store(settings))
    master = load_master_key(settings, create=False)
    audit = AuditLog(db)
    tenancy = TenancyService(db, audit)
    content = ContentService(db, store, timedelta(hours=settings.upload_ttl_hours), audit=audit)
    tokens = TokenService(
        db, master, issuer="dockyard", service=settings.service, ttl=settings.token_ttl_seconds
    )
    limiter = AuthRateLimiter(db, limit=settings.registry_auth_failures_per_minute)
    accounts = AccountLookup(db)
    verifier = CredentialVerifier(
        db, master, tokens=tokens, audit=audit, accounts=accounts, limiter=limiter
    )
    credentials = CredentialsService(db, tokens, verifier, audit=audit, accounts=accounts)
    signin = SignInService(db, master, tokens, audit=audit, accounts=accounts)
    identity = IdentityServices.build(db, audit, accounts, master)
    auth = RegistryAuth(tokens, verifier, disabled=settings.insecure_no_auth)
    pulls = PullGate(
        db,
        overrides=settings.test_pull_client_limits,
        lease_seconds=settings.pull_lease_seconds,
    )
    signing = SigningService(db, tenancy, content, audit)
    signature_policies = SignaturePolicyService(db, signing, audit)
    vulndb = VulnDbService(db, audit)
    scan_policies = ScanPolicyService(db, audit)
    services = RegistryServices(
        tenancy,
        content,
        auth,
        settings.public_url,
        pulls,
        signatures=signature_policies,
        scan_gate=scan_policies,
    )
    replication = ReplicationService(db, master, tenancy, content, audit)
    registry = RegistryApp(services, TokenEndpoint(auth, tenancy), audit=audit)
    api_services = ApiServices(
        tenancy,
        content,
        tokens,
        verifier,
        audit=audit,
        credentials=credentials,
        signin=signin,
        identity=identity,
        jobs=JobsService(db, audit),
        triggers=TriggersService(db, master, audit),
        retention=RetentionService(
            db,
            tenancy,
            content,
            audit,
            max_delete_share=settings.retention_max_delete_share,
        ),
        usage=UsageService(db, audit),
        auth_disabled=settings.insecure_no_auth,
        gc=GarbageCollector(db, store, content, audit, gc_policy(settings)),
        signing=signing,
        signature_policies=signature_policies,
        replication=replication,
        replication_rules=ReplicationRules(db, tenancy, replication, audit),
        vulndb=vulndb,
        scans=ScanService(db, content, vulndb, audit),
        scan_policies=scan_policies,
        external_scanners=external_scanners(db, master, audit, None),
    )
    api = create_api(api_services)
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    metrics = MetricsEndpoint(
        MetricsAccess(parse_networks(settings.metrics_allowed_cidrs), metrics_token),
        ObservabilityService(db),
    )
    from dockyard.console import ConsoleServices, create_console

    console = create_console(
        ConsoleServices(
            tenancy,
            content,
            tokens,
            verifier,
            audit,
            signin,
            credentials,
            identity,
            api_services.triggers,
            api_services.retention,
            api_services.gc,
            api_services.usage,
            api_services.replication,
            api_services.replication_rules,
            api_services.scans,
            api_services.scan_policies,
            public_url=settings.public_url,
            signing=signing,
            jobs=api_services.jobs,
            signature_policies=signature_policies,
            vulndb=vulndb,
        )
    )
    return Container(settings, db, store, tokens, registry, api, metrics=metrics, console=console)


class GuardedOutbound:
    """``dockyard.outbound``'s client, its refusals and failures told in the deliveries'
    terms: a refused address is final, a failed connection is retried when it may pass."""

    def __init__(self, settings: Settings) -> None:
        from dockyard.outbound import OutboundClient, OutboundFailed, OutboundRefused
        from dockyard.services.triggers import DeliveryError

        self._client = OutboundClient(outbound_policy(settings))
        self._refused, self._failed = OutboundRefused, OutboundFailed
        self._error = DeliveryError

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        try:
            return await self._client.post(url, body, headers)
        except self._refused as exc:
            raise self._error(exc.reason, retryable=False) from exc
        except self._failed as exc:
            raise self._error(exc.reason, retryable=exc.retryable) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def make_outbound(settings: Settings) -> GuardedOutbound:
    """The HTTP client trigger deliveries go out through, guarded by the outbound policy."""
    return GuardedOutbound(settings)


@dataclass
class Background:
    """Everything one background worker process runs with."""

    db: Database
    store: BlobStore
    worker: BackgroundWorker
    #: The HTTP client trigger deliveries go out through.
    outbound: GuardedOutbound

    async def stop(self) -> None:
        await self.outbound.aclose()
        await close_resources(self.db, self.store)


def build_background(settings: Settings) -> Background:
    """The composition root of the background processes: every job kind's handler here."""
    from dockyard.metadata.session import Database
    from dockyard.services.audit import AuditLog
    from dockyard.services.content import ContentService
    from dockyard.services.credentials import TokenService
    from dockyard.services.gc import RUN_JOB_KIND as GC_RUN_JOB_KIND
    from dockyard.services.gc import SCHEDULED, GarbageCollector, GcRunningError
    from dockyard.services.jobs import JobHandler, JobQueue, JobRun, PeriodicJob, Scheduler
    from dockyard.services.outbox import (
        OutboxDispatcher,
        Subscriber,
        event_job_kind,
        subscriber_handler,
    )
    from dockyard.services.replication import TASK_JOB_KIND as REPLICATION_JOB_KIND
    from dockyard.services.replication import ReplicationSubscriber, task_given_up
    from dockyard.services.retention import RUN_JOB_KIND, RetentionService
    from dockyard.services.scanning import (
        REMATCH_JOB_KIND,
        SCAN_JOB_KIND,
        ScanOnPushSubscriber,
        ScanService,
        VulnDbService,
    )
    from dockyard.services.tenancy import TenancyService
    from dockyard.services.triggers import (
        DELIVERY_JOB_KIND,
        RetryPolicy,
        TriggerDeliverer,
        TriggersService,
        TriggerSubscriber,
    )
    from dockyard.workers.runtime import BackgroundWorker, Timing

    db = Database(settings.resolved_database_url)
    store = make_blob_store(settings)
    audit = AuditLog(db)
    content = ContentService(db, store, timedelta(hours=settings.upload_ttl_hours), audit=audit)
    master = load_master_key(settings, create=False)
    triggers = TriggersService(db, master, audit)
    retention = RetentionService(
        db,
        TenancyService(db, audit),
        content,
        audit,
        max_delete_share=settings.retention_max_delete_share,
    )
    outbound = make_outbound(settings)
    deliverer = TriggerDeliverer(
        db,
        master,
        outbound,
        RetryPolicy(settings.webhook_max_retries, settings.webhook_retry_base_seconds),
    )
    #: Every consumer of domain events: replication and scanning join here.
    consumers: list[Subscriber] = [
        TriggerSubscriber(db),
        ReplicationSubscriber(db),
        ScanOnPushSubscriber(db),
    ]
    dispatcher = OutboxDispatcher(
        db, consumers, retention=timedelta(days=settings.event_retention_days)
    )

    async def purge_uploads(_run: JobRun) -> None:
        if purged := await content.purge_expired_uploads():
            log.info("purged abandoned uploads", count=purged)

    async def prune_audit(_run: JobRun) -> None:
        if pruned := await audit.prune(timedelta(days=settings.audit_retention_days)):
            log.info("pruned audit events", count=pruned)

    async def prune_events(_run: JobRun) -> None:
        if pruned := await dispatcher.prune():
            log.info("pruned published events", count=pruned)

    async def prune_trigger_log(_run: JobRun) -> None:
        if pruned := await triggers.prune_log(timedelta(days=settings.trigger_log_retention_days)):
            log.info("pruned trigger log records", count=pruned)

    async def queue_retention_runs(_run: JobRun) -> None:
        if queued := await retention.queue_due():
            log.info("queued scheduled retention runs", count=queued)

    async def run_retention_policy(run: JobRun) -> None:
        if view := await retention.run_scheduled(run.payload):
            log.info(
                "ran scheduled retention policy",
                policy=view.policy,
                status=view.status,
                deleted_tags=view.deleted_tags,
            )

    async def prune_retention_runs(_run: JobRun) -> None:
        if pruned := await retention.prune_runs(timedelta(days=settings.retention_run_log_days)):
            log.info("pruned retention runs", count=pruned)

    collector = GarbageCollector(db, store, content, audit, gc_policy(settings))

    async def run_requested_gc(run: JobRun) -> None:
        if view := await collector.execute_queued(run.payload):
            log.info(
                "ran requested garbage collection",
                run=str(view.id),
                status=view.status,
                blobs_deleted=view.blobs_deleted,
                bytes_reclaimed=view.bytes_reclaimed,
            )

    async def collect_garbage(_run: JobRun) -> None:
        try:
            run = await collector.run(actor=None, dry_run=False, trigger=SCHEDULED)
        except GcRunningError as exc:
            log.info("scheduled garbage collection skipped", reason=str(exc))
            return
        log.info(
            "ran scheduled garbage collection",
            status=run.status,
            blobs_deleted=run.blobs_deleted,
            bytes_reclaimed=run.bytes_reclaimed,
        )

    tokens = TokenService(
        db, master, issuer="dockyard", service=settings.service, ttl=settings.token_ttl_seconds
    )
    scanner = ScanService(
        db,
        content,
        VulnDbService(db, audit),
        audit,
        external=external_scanners(db, master, audit, tokens),
    )

    async def rematch_scans(run: JobRun) -> None:
        if count := await scanner.rematch(run.payload):
            log.info("matched stored scans again", scans=count, version=run.payload.get("version"))

    async def scan_image(run: JobRun) -> None:
        if view := await scanner.execute(run.payload):
            log.info(
                "scanned image", repository=view.repository, digest=view.digest, state=view.state
            )

    periodic = [
        PeriodicJob(
            "purge-uploads",
            timedelta(seconds=settings.upload_purge_interval_seconds),
            purge_uploads,
        ),
        PeriodicJob("prune-audit", PRUNE_INTERVAL, prune_audit),
        PeriodicJob("prune-events", PRUNE_INTERVAL, prune_events),
        PeriodicJob("prune-trigger-log", PRUNE_INTERVAL, prune_trigger_log),
        PeriodicJob("retention-schedules", RETENTION_SCHEDULE_INTERVAL, queue_retention_runs),
        PeriodicJob("prune-retention-runs", PRUNE_INTERVAL, prune_retention_runs),
    ]
    if settings.gc_interval_hours > 0:
        interval = timedelta(hours=settings.gc_interval_hours)
        periodic.append(PeriodicJob("garbage-collection", interval, collect_garbage))
    handlers: dict[str, JobHandler] = {job.name: job.handler for job in periodic}
    handlers[RUN_JOB_KIND] = run_retention_policy
    handlers[GC_RUN_JOB_KIND] = run_requested_gc
    handlers[DELIVERY_JOB_KIND] = deliverer.run
    handlers[SCAN_JOB_KIND] = scan_image
    handlers[REMATCH_JOB_KIND] = rematch_scans
    for consumer in consumers:
        handlers[event_job_kind(consumer.name)] = subscriber_handler(consumer)
    handlers[REPLICATION_JOB_KIND] = replication_runner(db, content, audit, master).run
    queue = JobQueue(
        db,
        f"{socket.gethostname()}/{os.getpid()}",
        lease=timedelta(seconds=settings.job_lease_seconds),
        given_up={REPLICATION_JOB_KIND: task_given_up},
    )
    timing = Timing(
        poll=settings.background_poll_seconds,
        grace=settings.shutdown_grace_seconds,
        concurrency=settings.background_concurrency,
    )
    worker = BackgroundWorker(queue, handlers, dispatcher, Scheduler(db, periodic), timing)
    return Background(db, store, worker, outbound)


def replication_runner(
    db: Database, content: ContentService, audit: AuditLog, master: MasterKey
) -> ReplicationRunner:
    """Runs replication tasks; remote registries are reached over ``dockyard.outbound``."""
    from dockyard.outbound.registry import RemoteRegistries
    from dockyard.services.replication import ReplicationRunner, ReplicationService
    from dockyard.services.tenancy import TenancyService

    tenancy = TenancyService(db, audit)
    replication = ReplicationService(db, master, tenancy, content, audit)
    return ReplicationRunner(db, tenancy, content, RemoteRegistries(), replication.remote_endpoint)


# The local commands (``dockyard serve``, ``dockyard db``, ``dockyard nginx-config``) reach
# the database and the storage layout through these, so the CLI never names a driver.


def database_is_empty(settings: Settings) -> bool:
    """Whether the database has no schema yet (a first start)."""
    from dockyard.metadata import migrate

    return migrate.is_empty(settings.resolved_database_url)


def pending_migrations(settings: Settings) -> list[str]:
    """The schema migrations the database lacks (empty when it is up to date)."""
    from dockyard.metadata import migrate

    return migrate.pending_revisions(settings.resolved_database_url)


def upgrade_database(settings: Settings) -> list[AppliedMigration]:
    """Create the schema, or apply the pending migrations; the migrations applied."""
    from dockyard.metadata import migrate

    return migrate.upgrade(settings.resolved_database_url)


def first_start(settings: Settings) -> str | None:
    """Create what a new installation needs (creating the master key if missing);
    returns the administrator's generated password when one was made, else None."""
    from dockyard.metadata.session import Database
    from dockyard.services.setup import first_start

    async def run() -> str | None:
        db = Database(settings.resolved_database_url)
        try:
            master = load_master_key(settings, create=True)
            password = (
                settings.admin_password.get_secret_value() if settings.admin_password else None
            )
            return await first_start(db, master, password or None)
        finally:
            await db.dispose()

    return asyncio.run(run())


def nonconforming_names(settings: Settings) -> NonconformingNames:
    """Stored namespaces and repositories outside the OCI name grammar (``db upgrade``)."""
    from dockyard.metadata.session import Database
    from dockyard.services.audit import AuditLog
    from dockyard.services.tenancy import TenancyService

    async def run() -> NonconformingNames:
        db = Database(settings.resolved_database_url)
        try:
            return await TenancyService(db, AuditLog(db)).nonconforming_names()
        finally:
            await db.dispose()

    return asyncio.run(run())


def backup_database(settings: Settings, target: Path) -> str:
    """An online backup of the metadata database into ``target``; a one-line summary.

    Raises :class:`dockyard.errors.BackupError` (with the exit code it deserves) when it
    cannot."""
    from dockyard.metadata.backup import backup_database

    return backup_database(settings.resolved_database_url, target)


def filesystem_blobs_dir(settings: Settings) -> Path:
    """Where the filesystem driver keeps committed blob files (nginx sends them)."""
    return layout.blobs_dir(settings.blob_root)


def external_scanners(
    db: Database, master: MasterKey, audit: AuditLog, tokens: TokenService | None
) -> ExternalScanners:
    """Registrations of Harbor scanner adapters; with ``tokens`` (the background worker),
    able to hand an adapter a pull token for the image's repository."""
    from dockyard.outbound.scanner_adapter import HarborScannerClient
    from dockyard.services.access import Principal
    from dockyard.services.credentials import AccessEntry
    from dockyard.services.scanning import SCANNER, ExternalScanners

    if tokens is None:
        return ExternalScanners(db, master, audit, HarborScannerClient())
    signing = tokens

    async def pull_authorization(repo: RepositoryRef) -> str:
        await signing.load_keys()  # the newest signing key, as a rotation left it
        access = [AccessEntry("repository", repo.full_name, ("pull",))]
        token, _ = signing.issue(Principal(SCANNER, None), repo.instance_id, access)
        return f"Bearer {token}"

    return ExternalScanners(
        db, master, audit, HarborScannerClient(), pull_authorization=pull_authorization
    )
