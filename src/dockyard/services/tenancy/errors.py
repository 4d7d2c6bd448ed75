"""What tenancy refuses, by name, so faces map each to its protocol's answer."""

from __future__ import annotations

from dockyard.errors import ConflictError, NotFoundError


class NameUnknownError(NotFoundError):
    """The repository (or the namespace a push would need) does not exist."""


class InstanceNotFoundError(NotFoundError):
    """No instance has this id."""


class NamespaceNotFoundError(NotFoundError):
    """No namespace of this name in the instance."""


class RepositoryNotFoundError(NameUnknownError):
    """No repository of this name in the namespace."""


class InstanceNotEmptyError(ConflictError):
    """An instance that still holds namespaces is deleted only when forced."""


class NamespaceNotEmptyError(ConflictError):
    """A namespace that still holds repositories is deleted only when forced."""


class DowngradeRefusedError(ConflictError):
    """The instance holds more than the lower edition allows."""
