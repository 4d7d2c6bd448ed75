"""The composition root: Settings → database, blob store, services, faces.

The only module that names concrete drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from dockyard.metadata.session import Database
from dockyard.registry.auth import RegistryAuth
from dockyard.registry.context import RegistryServices
from dockyard.registry.routes import RegistryApp
from dockyard.registry.token import TokenEndpoint
from dockyard.services.content import ContentService
from dockyard.services.credentials import CredentialVerifier, TokenService
from dockyard.services.secrets import MasterKey
from dockyard.services.tenancy import TenancyService
from dockyard.settings import Settings
from dockyard.storage.base import BlobStore
from dockyard.storage.filesystem import FilesystemBlobStore


def make_blob_store(settings: Settings) -> BlobStore:
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

    async def start(self) -> None:
        await self.tokens.load_keys()

    async def stop(self) -> None:
        await self.db.dispose()

    async def check_ready(self) -> None:
        async with self.db.read() as session:
            await session.execute(text("SELECT 1"))
        await self.store.check()


def build(settings: Settings) -> Container:
    db = Database(settings.resolved_database_url)
    store = make_blob_store(settings)
    master = load_master_key(settings, create=False)
    tenancy = TenancyService(db)
    content = ContentService(db, store, timedelta(hours=settings.upload_ttl_hours))
    tokens = TokenService(
        db, master, issuer="dockyard", service=settings.service, ttl=settings.token_ttl_seconds
    )
    auth = RegistryAuth(tokens, CredentialVerifier(db, master), disabled=settings.insecure_no_auth)
    services = RegistryServices(tenancy, content, auth, settings.public_url)
    registry = RegistryApp(services, TokenEndpoint(auth, tenancy))
    return Container(settings, db, store, content, tokens, registry)
