"""Where a task writes: the :class:`Destination` protocol, its named failures, and the
destination of the same deployment (another instance), which links blobs by digest.

A remote destination (another Dockyard, any OCI registry) speaks HTTP; it lives with the
outbound client (``dockyard.outbound.registry``) and the composition root hands the runner
a :class:`RemoteConnector` that opens one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from dockyard.errors import DockyardError, LimitExceededError, StorageFullError
from dockyard.oci.reference import RepositoryName
from dockyard.services.content import (
    IMMUTABLE_TAG_MESSAGE,
    ContentService,
    ImmutableTagError,
    ManifestUnknownError,
)
from dockyard.services.replication.views import RemoteEndpoint
from dockyard.services.tenancy import RepositoryRef, TenancyService

#: What a push made by replication is recorded as pushed by, with the source instance:
#: rules do not replicate such a push back to where it came from.
REPLICATION_PUSHER = "replication from "

UNREACHABLE = "destination unreachable"
AUTHENTICATION_REFUSED = "authentication refused"
PERMISSION_DENIED = "permission denied"
DESTINATION_IMMUTABLE = "destination immutable"
SOURCE_MANIFEST_UNKNOWN = "manifest unknown at source"
DESTINATION_LIMIT = "quota or limit at the destination"


#: Opens a blob's bytes from the start, as often as a destination needs (a remote that
#: refuses one PUT is sent them again in chunks).
BlobBody = Callable[[], AsyncIterator[bytes]]


class DestinationError(Exception):
    """A named failure (``kind``, one of the constants above, or a free description) with
    its detail; ``retryable`` says whether trying again later can help."""

    def __init__(self, kind: str, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.retryable = retryable


class Destination(Protocol):
    """One repository at the destination, as a task writes to it."""

    async def has_blob(self, digest: str) -> bool: ...

    async def mount_blob(self, digest: str, holders: Sequence[str]) -> bool:
        """Link the blob without sending it, from one of ``holders`` (repositories there
        that earlier tasks left it in); False when the destination cannot."""
        ...

    async def push_blob(self, digest: str, size: int, body: BlobBody) -> None: ...

    async def tag_digest(self, tag: str) -> str | None:
        """What ``tag`` points to now (None: no such tag)."""
        ...

    async def immutable(self) -> bool:
        """Whether an existing tag can never be moved (known only to some destinations)."""
        ...

    async def put_manifest(self, reference: str, body: bytes, media_type: str) -> None: ...

    async def put_referrer(
        self, subject: str, digest: str, body: bytes, media_type: str, descriptor: dict[str, object]
    ) -> None:
        """Store a manifest whose ``subject`` is already there, so the destination lists it
        among the subject's referrers (or in the fallback tag index of OCI 1.1)."""
        ...

    async def aclose(self) -> None: ...


class RemoteConnector(Protocol):
    """Opens a repository of a remote registry (built by the composition root)."""

    async def open(self, remote: RemoteEndpoint, repository: str) -> Destination: ...


class InstanceDestination:
    """A repository of another instance of this deployment: storage is shared, so blobs
    are linked from the source repository and no byte is copied."""

    def __init__(
        self,
        tenancy: TenancyService,
        content: ContentService,
        source: RepositoryRef,
        target: RepositoryRef,
    ) -> None:
        self._tenancy = tenancy
        self._content = content
        self._source = source
        self._target = target

    @classmethod
    async def open(
        cls,
        tenancy: TenancyService,
        content: ContentService,
        source: RepositoryRef,
        instance_id: str,
        repository: str,
    ) -> InstanceDestination:
        """The destination repository, created with its namespace when the instance lets a
        push create them."""
        try:
            target = await tenancy.ensure_repository(instance_id, RepositoryName.parse(repository))
        except LimitExceededError as exc:
            raise DestinationError(DESTINATION_LIMIT, exc.message) from exc
        except DockyardError as exc:
            raise DestinationError(PERMISSION_DENIED, exc.message) from exc
        return cls(tenancy, content, source, target)

    @property
    def target(self) -> RepositoryRef:
        return self._target

    async def has_blob(self, digest: str) -> bool:
        try:
            await self._content.stat_blob(self._target, digest)
        except DockyardError:
            return False
        return True

    async def mount_blob(self, digest: str, holders: Sequence[str]) -> bool:
        return await self._content.mount(self._target, digest, self._source)

    async def push_blob(self, digest: str, size: int, body: BlobBody) -> None:
        raise DestinationError(
            SOURCE_MANIFEST_UNKNOWN, f"blob {digest} is no longer in {self._source.full_name}"
        )

    async def tag_digest(self, tag: str) -> str | None:
        try:
            return (await self._content.get_manifest(self._target, tag)).digest
        except ManifestUnknownError:
            return None

    async def immutable(self) -> bool:
        return self._target.immutable

    async def put_manifest(self, reference: str, body: bytes, media_type: str) -> None:
        try:
            await self._content.put_manifest(
                self._target,
                reference,
                body,
                media_type,
                REPLICATION_PUSHER + self._source.instance_id,
            )
        except ImmutableTagError as exc:
            raise DestinationError(DESTINATION_IMMUTABLE, IMMUTABLE_TAG_MESSAGE) from exc
        except (LimitExceededError, StorageFullError) as exc:
            raise DestinationError(DESTINATION_LIMIT, exc.message) from exc

    async def put_referrer(
        self, subject: str, digest: str, body: bytes, media_type: str, descriptor: dict[str, object]
    ) -> None:
        await self.put_manifest(digest, body, media_type)

    async def aclose(self) -> None:
        return None
