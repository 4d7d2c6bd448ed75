"""The composition root: Settings → database, blob store, services, faces.

The only module that names concrete drivers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from starlette.types import ASGIApp

from dockyard.api import ApiServices, create_api
from dockyard.metadata import backup as db_backup
from dockyard.metadata.session import Database
from dockyard.registry.auth import RegistryAuth
from dockyard.registry.context import RegistryServices
from dockyard.registry.routes import RegistryApp
from dockyard.registry.token import TokenEndpoint
from dockyard.services.audit import AuditLog
from dockyard.services.content import ContentService
from dockyard.services.credentials import CredentialsService, CredentialVerifier, TokenService
from dockyard.services.identity import IdentityService
from dockyard.services.pulls import PullGate
from dockyard.services.ratelimit import AuthRateLimiter
from dockyard.services.secrets import MasterKey
from dockyard.services.signin import SignInService
from dockyard.services.tenancy import TenancyService
from dockyard.settings import Settings
from dockyard.storage import layout
from dockyard.storage.base import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore

#: What :func:`backup_database` raises when it cannot back up (it carries an exit code).
BackupError = db_backup.BackupError


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
    db = Database(settings.resolved_database_url)
    store = make_blob_store(settings)
    master = load_master_key(settings, create=False)
    audit = AuditLog(db)
    tenancy = TenancyService(db, audit)
    content = ContentService(db, store, timedelta(hours=settings.upload_ttl_hours), audit=audit)
    tokens = TokenService(
        db, master, issuer="dockyard", service=settings.service, ttl=settings.token_ttl_seconds
    )
    limiter = AuthRateLimiter(db, limit=settings.registry_auth_failures_per_minute)
    verifier = CredentialVerifier(db, master, tokens=tokens, audit=audit, limiter=limiter)
    credentials = CredentialsService(db, tokens, verifier, audit=audit)
    signin = SignInService(db, master, tokens, audit=audit)
    identity = IdentityService(db, audit, master)
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
            auth_disabled=settings.insecure_no_auth,
            audit=audit,
            credentials=credentials,
            signin=signin,
            identity=identity,
        )
    )
    return Container(settings, db, store, content, tokens, registry, api, audit=audit)


# The local commands (``dockyard serve``, ``dockyard db``, ``dockyard nginx-config``) reach
# the database and the storage layout through these, so the CLI never names a driver.
# Alembic is heavy: it is imported only by the functions that migrate.


def database_is_empty(settings: Settings) -> bool:
    """Whether the database has no schema yet (a first start)."""
    from dockyard.metadata import migrate

    return migrate.is_empty(settings.resolved_database_url)


def pending_migrations(settings: Settings) -> list[str]:
    """The schema migrations the database lacks (empty when it is up to date)."""
    from dockyard.metadata import migrate

    return migrate.pending_revisions(settings.resolved_database_url)


def upgrade_database(settings: Settings) -> None:
    """Create the schema, or apply the pending migrations."""
    from dockyard.metadata import migrate

    migrate.upgrade(settings.resolved_database_url)


def first_start(settings: Settings) -> str | None:
    """Create what a new installation needs (creating the master key if missing);
    returns the administrator's generated password when one was made, else None."""
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


def backup_database(settings: Settings, target: Path) -> str:
    """An online backup of the metadata database into ``target``; a one-line summary.

    Raises :data:`BackupError` (with the exit code it deserves) when it cannot."""
    return db_backup.backup_database(settings.resolved_database_url, target)


def filesystem_blobs_dir(settings: Settings) -> Path:
    """Where the filesystem driver keeps committed blob files (nginx sends them)."""
    return layout.blobs_dir(settings.blob_root)
