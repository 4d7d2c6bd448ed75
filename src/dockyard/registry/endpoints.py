"""The prelude every registry route shares, stated once per route in the route table.

A route names its action and how it finds its repository; the prelude parses the name,
finds the repository, authorizes the action (with the repository's visibility) and only
then answers NAME_UNKNOWN for a missing one, so a caller without access never learns
whether a repository exists. The handler receives what the prelude established.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from starlette.responses import Response

from dockyard.oci.reference import RepositoryName
from dockyard.registry.context import Call, PushTarget, Target
from dockyard.services.content import Lookup
from dockyard.services.tenancy import NameUnknownError

T = TypeVar("T")


class Endpoint(Protocol):
    """A handler behind its prelude."""

    @property
    def action(self) -> str:
        """The policy action the route authorizes (and audits its denials under)."""
        ...

    async def __call__(self, call: Call) -> Response: ...


def _unknown(name: RepositoryName) -> NameUnknownError:
    return NameUnknownError(f"repository {name} not known")


@dataclass(frozen=True, slots=True)
class RegistryWide:
    """A route on no repository (the catalog), authorized on every repository."""

    action: str
    handler: Callable[[Call], Awaitable[Response]]

    async def __call__(self, call: Call) -> Response:
        services = call.services
        await services.auth.require(call.request, call.base_url, call.instance, self.action, None)
        return await self.handler(call)


@dataclass(frozen=True, slots=True)
class Existing:
    """A route on a repository that must exist."""

    action: str
    handler: Callable[[Call, Target], Awaitable[Response]]

    async def __call__(self, call: Call) -> Response:
        name = call.name()
        repo = await call.services.tenancy.find_repository(call.instance.id, name)
        caller = await call.authorize(self.action, name, repo)
        if repo is None:
            raise _unknown(name)
        return await self.handler(call, Target(name, caller, repo))


@dataclass(frozen=True, slots=True)
class Creating:
    """A push route: a missing repository is created when the handler needs it."""

    action: str
    handler: Callable[[Call, PushTarget], Awaitable[Response]]

    async def __call__(self, call: Call) -> Response:
        name = call.name()
        tenancy = call.services.tenancy
        repo = await tenancy.find_repository(call.instance.id, name)
        caller = await call.authorize(self.action, name, repo)
        return await self.handler(call, PushTarget(name, caller, repo, tenancy, call.instance.id))


@dataclass(frozen=True, slots=True)
class HotRead(Generic[T]):
    """A hot read: ``find`` fetches the repository and the object in ONE statement (the
    benchmarks measure these); the object is handed over only after authorization."""

    action: str
    #: Returns the lookup's awaitable itself (no coroutine of its own on the hot path).
    find: Callable[[Call, RepositoryName], Awaitable[Lookup[T]]]
    handler: Callable[[Call, Target, T], Awaitable[Response]]

    async def __call__(self, call: Call) -> Response:
        name = call.name()
        found = await self.find(call, name)
        caller = await call.authorize(self.action, name, found.repo)
        if found.repo is None:
            raise _unknown(name)
        return await self.handler(call, Target(name, caller, found.repo), found.get())
