"""Domain errors shared by every layer.

Services raise these; each face (registry protocol, API, CLI) maps them to its own wire
format at the boundary, so domain code never knows about HTTP status codes.
"""

from __future__ import annotations

from typing import Any


class DockyardError(Exception):
    """Base of every error Dockyard raises on purpose."""

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInputError(DockyardError):
    """The caller sent something malformed."""


class NotFoundError(DockyardError):
    """The named thing does not exist (or is not visible to the caller)."""


class AlreadyExistsError(DockyardError):
    """A create collided with an existing name."""


class ConflictError(DockyardError):
    """The request conflicts with the current state (e.g. immutable tag)."""


class AuthenticationError(DockyardError):
    """Credentials are missing or wrong."""


class DeniedError(DockyardError):
    """The principal is authenticated but not allowed."""


class LimitExceededError(DockyardError):
    """An edition or quota limit would be exceeded."""


class EditionRequiredError(DockyardError):
    """The feature needs a higher edition than the instance has."""


class TooManyRequestsError(DockyardError):
    """A rate or concurrency limit is reached for now; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class UnavailableError(DockyardError):
    """A backing service (database, storage) cannot be reached right now."""


class StorageFullError(UnavailableError):
    """The blob store ran out of space."""


class PreconditionFailedError(ConflictError):
    """A conditional update's ``If-Match`` no longer matches the resource."""


class BackupError(Exception):
    """``dockyard db backup`` could not back up the database; ``exit_code`` 2 when the
    request cannot work here (no such database, no method, no ``pg_dump``), 1 otherwise.

    Here, not beside the backup code: the CLI catches it without importing the database
    layer."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
