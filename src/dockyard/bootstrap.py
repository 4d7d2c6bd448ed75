"""The composition root: Settings → database, blob store, services, faces.

The only module that names concrete drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from starlette.types import ASGIApp

from dockyard.api import ApiServices, create_api
from dockyard.metadata.pools import watch_checkouts
from dockyard.metadata.session import Database
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
from dockyard.services.identity import IdentityServices
from dockyard.services.observability import ObservabilityService
from dockyard.services.secrets import MasterKey
from dockyard.services.signin import SignInService
from dockyard.services.tenancy import TenancyService
from dockyard.settings import Settings
from dockyard.storage.base import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore


def make_blob_store(settings: Settings) -> BlobStore:
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


def load_master_key(settings: Settings, *, create: bool) -> MasterKey:
    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    return MasterKey.load(settings.data_dir, configured, create=create)


@dataclass
class Container:
    """Everything one worker process serves with."""

    settings: Settings
    db: Database
    store: BlobStore
    content: ContentService
    tokens: TokenService
    registry: RegistryApp
    #: The management API (``/api/``).
    api: ASGIApp
    #: The audit log (its retention loop runs in every worker).
    audit: AuditLog | None = None
    #: ``/metrics`` (Prometheus text format, behind its access rules).
    metrics: ASGIApp | None = None

    async def start(self) -> None:
        await self.tokens.load_keys()

    async def stop(self) -> None:
        await self.db.dispose()
        close = getattr(self.store, "aclose", None)  # drivers with connection pools
        if close is not None:
            await close()

    async def check_ready(self) -> None:
        async with self.db.read() as session:
            await session.execute(text("SELECT 1"))
        await self.store.check()


def build(settings: Settings) -> Container:
    # Imported here, not at the top: only serving processes load prometheus_client, after
    # the serving parent has set up the multiprocess directory (see dockyard.supervisor).
    from dockyard.metrics.access import MetricsAccess
    from dockyard.metrics.exposition import MetricsEndpoint
    from dockyard.metrics.instruments import DB_CONNECTIONS_IN_USE
    from dockyard.metrics.storage import CountingBlobStore

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
    services = RegistryServices(tenancy, content, auth, settings.public_url, pulls)
    registry = RegistryApp(services, TokenEndpoint(auth, tenancy), audit=audit)
    api = create_api(
        ApiServices(
            tenancy,
            content,
            tokens,
            verifier,
            audit=audit,
            credentials=credentials,
            signin=signin,
            organizations=identity.organizations,
            users=identity.users,
            groups=identity.groups,
            resource_sets=identity.resource_sets,
            roles=identity.roles,
            policies=identity.policies,
            logon_policies=identity.logon_policies,
            auth_disabled=settings.insecure_no_auth,
        )
    )
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    metrics = MetricsEndpoint(
        MetricsAccess(parse_networks(settings.metrics_allowed_cidrs), metrics_token),
        ObservabilityService(db),
    )
    return Container(
        settings, db, store, content, tokens, registry, api, audit=audit, metrics=metrics
    )
