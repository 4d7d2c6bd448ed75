"""Routing requests to instances, and the repositories a push may create."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from dockyard.errors import NotFoundError
from dockyard.metadata.models import Repository
from dockyard.metadata.queries import content as cq
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.oci.reference import RepositoryName
from dockyard.services.access import InstanceRef

INSTANCE_CACHE_SECONDS = 5.0


class NameUnknownError(NotFoundError):
    """The repository (or the namespace a push would need) does not exist."""


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    id: uuid.UUID
    instance_id: str
    full_name: str
    public: bool
    immutable: bool


def _ref(repo: Repository) -> RepositoryRef:
    return RepositoryRef(
        repo.id,
        repo.instance_id,
        repo.full_name,
        repo.type == "public",
        repo.tag_mutability == "Immutable",
    )


class TenancyService:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._instances: dict[str, tuple[float, InstanceRef]] = {}

    async def instance_for_host(self, host: str) -> InstanceRef:
        """The instance whose domain is ``host`` (port ignored), else the default one."""
        domain = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        domain = domain.lower().strip("[]")
        hit = self._instances.get(domain)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        async with self._db.read() as session:
            instance = await tq.find_instance_by_domain(session, domain)
            if instance is None:
                instance = await tq.find_instance(session, "default")
            account = await tq.find_account(session)
        if instance is None or account is None:
            raise NotFoundError("no instance serves this host")
        ref = InstanceRef(instance.id, instance.region, account.arn_id, instance.edition)
        self._instances[domain] = (now + INSTANCE_CACHE_SECONDS, ref)
        return ref

    async def find_repository(self, instance_id: str, name: RepositoryName) -> RepositoryRef | None:
        async with self._db.read() as session:
            repo = await tq.find_repository(session, instance_id, str(name))
        return _ref(repo) if repo else None

    async def ensure_repository(self, instance_id: str, name: RepositoryName) -> RepositoryRef:
        """The repository a push goes to, created with its namespace when allowed."""
        found = await self.find_repository(instance_id, name)
        if found is not None:
            return found
        async with self._db.write() as session:
            namespace = await tq.find_namespace(session, instance_id, name.namespace)
            if namespace is None:
                namespace = await tq.insert_namespace_if_absent(
                    session, instance_id, name.namespace
                )
                cq.add_event(
                    session, instance_id, "NamespaceCreated", {"namespace": name.namespace}
                )
            if not namespace.auto_create:
                raise NameUnknownError(
                    f"repository {name} does not exist and namespace {name.namespace} "
                    "does not create repositories on push"
                )
            repo, created = await tq.insert_repository_if_absent(
                session, namespace, name.repository, f"crr-{secrets.token_hex(8)}"
            )
            if created:
                cq.add_event(session, instance_id, "RepositoryCreated", {"repository": str(name)})
            return _ref(repo)

    async def list_repository_names(
        self, instance_id: str, last: str | None, limit: int
    ) -> list[str]:
        async with self._db.read() as session:
            return list(await tq.list_repository_names(session, instance_id, last, limit))
