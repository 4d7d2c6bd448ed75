"""What the content service refuses, and the storage driver's failures in those terms.

Drivers raise :class:`~dockyard.storage.StorageError` and its kinds; the faces see only
domain errors: an upload the driver no longer knows is :class:`UploadUnknownError`, any
other driver failure :class:`~dockyard.errors.UnavailableError` (the registry answers
``UNAVAILABLE``, 503). The service maps the cases it can say more about itself (a chunk at
the wrong offset is :class:`RangeInvalidError` where a client chose the offset).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from dockyard.errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from dockyard.storage import StorageError, UploadMissingError

P = ParamSpec("P")
R = TypeVar("R")


class BlobUnknownError(NotFoundError):
    """The blob is not in this repository."""


class UploadUnknownError(NotFoundError):
    """No such upload session in this repository."""


class ManifestUnknownError(NotFoundError):
    """No such manifest in this repository."""


class DigestInvalidError(InvalidInputError):
    """A digest is malformed or does not match the content."""


class ManifestBlobUnknownError(InvalidInputError):
    """A manifest references content the repository does not hold."""


class RangeInvalidError(InvalidInputError):
    """A chunk does not start where the upload ends."""

    def __init__(self, message: str, current_size: int) -> None:
        super().__init__(message)
        self.current_size = current_size


class ImmutableTagError(ConflictError):
    """The repository is immutable and the tag exists."""


@contextmanager
def storage_failures() -> Iterator[None]:
    """Re-raise a driver failure as the domain error that names it."""
    try:
        yield
    except UploadMissingError as exc:
        raise UploadUnknownError(exc.message, detail=exc.detail) from exc
    except StorageError as exc:
        raise UnavailableError(exc.message, detail=exc.detail) from exc


def storage_as_domain(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A content-service method whose driver failures leave as domain errors."""

    @functools.wraps(method)
    async def mapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with storage_failures():
            return await method(*args, **kwargs)

    return mapped


async def stream_as_domain(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A driver's byte stream whose failures leave as domain errors."""
    with storage_failures():
        async for chunk in chunks:
            yield chunk
