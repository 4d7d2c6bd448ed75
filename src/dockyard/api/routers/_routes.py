"""What every router shares: how a route is declared, authorized and answered.

A route names its policy action once (``route``): it becomes the operation's
``x-dockyard-action``, which the route's ``Guard`` authorizes, and its error responses come
from the one table in ``api.errors``. Instance-scoped routes (instances, namespaces,
repositories, their tags and manifests) authorize on an ARN built from the instance they
name (``require_in``), and the routes under a repository find it that way too
(``repository_in``, or an ``InRepository`` parameter); routes that answer a versioned view
set its ETag (``answer``).
New routers (triggers, replication, …) declare their routes the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from dockyard.api import actions
from dockyard.api.context import ApiServices, Authz, Guard, Services
from dockyard.api.errors import responses
from dockyard.api.routers.params import InstanceId, NamespaceName, RepositoryName, set_etag
from dockyard.services.access import InstanceRef
from dockyard.services.audit import Actor
from dockyard.services.tenancy import RepositoryRef

_Out = TypeVar("_Out", bound=BaseModel)
Endpoint = Callable[..., Awaitable[Any]]
Decorator = Callable[[Endpoint], Endpoint]


class Tagged(Protocol):
    """A service view that carries its version."""

    @property
    def etag(self) -> str: ...


def route(
    router: APIRouter,
    method: str,
    path: str,
    action: str,
    summary: str,
    *,
    errors: Collection[int] = (),
    **options: Any,
) -> Decorator:
    """Declare ``method path`` on ``router``, authorized as ``action``; ``errors`` are the
    statuses it may answer beyond the common ones; ``options`` go to FastAPI as they are
    (``response_model``, ``status_code``, ``description``, ``name``)."""
    return router.api_route(
        path,
        methods=[method],
        summary=summary,
        openapi_extra=actions.action(action),
        responses=responses(*errors),
        **options,
    )


def answer(out: type[_Out], response: Response, view: Tagged) -> _Out:
    """``view`` as the route answers it, with its ETag."""
    set_etag(response, view.etag)
    return out.model_validate(view)


async def require_in(
    svc: ApiServices,
    guard: Guard,
    instance_id: str,
    arn: Callable[..., str],
    *names: str | None,
) -> str:
    """Authorize the route's action on ``arn(instance, *names)`` (an ``actions`` builder)
    for the instance named in the path; the resource it allowed, for the audit row."""
    instance: InstanceRef = await svc.tenancy.instance_ref(instance_id)
    resource = arn(instance, *names)
    guard.require(resource)
    return resource


async def repository_in(
    svc: ApiServices, guard: Guard, instance_id: str, namespace: str, repository: str
) -> tuple[RepositoryRef, str]:
    """The repository named in the path (an unknown one is 404), once the route's action is
    allowed on it; with its ARN, for the audit row."""
    arn = await require_in(svc, guard, instance_id, actions.repository_arn, namespace, repository)
    return await svc.tenancy.repository_ref(instance_id, namespace, repository), arn


@dataclass(frozen=True, slots=True)
class Authorized:
    """The ARN a route's action was allowed on (for the audit row), with the request's
    services and guard: what the ``In…`` parameters below hand a route."""

    arn: str
    svc: ApiServices
    guard: Guard

    @property
    def actor(self) -> Actor:
        return self.guard.actor


@dataclass(frozen=True, slots=True)
class InstanceTarget(Authorized):
    id: str


async def _instance_target(instance_id: InstanceId, svc: Services, guard: Authz) -> InstanceTarget:
    arn = await require_in(svc, guard, instance_id, actions.instance_arn)
    return InstanceTarget(arn, svc, guard, instance_id)


#: The instance named in the path, once the route's action is allowed on its ARN.
InInstance = Annotated[InstanceTarget, Depends(_instance_target)]


@dataclass(frozen=True, slots=True)
class NamespaceTarget(Authorized):
    instance_id: str
    name: str


async def _namespace_target(
    instance_id: InstanceId, namespace: NamespaceName, svc: Services, guard: Authz
) -> NamespaceTarget:
    arn = await require_in(svc, guard, instance_id, actions.namespace_arn, namespace)
    return NamespaceTarget(arn, svc, guard, instance_id, namespace)


#: The namespace named in the path, once the route's action is allowed on its ARN (an
#: unknown namespace is the service's 404).
InNamespace = Annotated[NamespaceTarget, Depends(_namespace_target)]


@dataclass(frozen=True, slots=True)
class RepositoryTarget(Authorized):
    ref: RepositoryRef


async def _repository_target(
    instance_id: InstanceId,
    namespace: NamespaceName,
    repository: RepositoryName,
    svc: Services,
    guard: Authz,
) -> RepositoryTarget:
    ref, arn = await repository_in(svc, guard, instance_id, namespace, repository)
    return RepositoryTarget(arn, svc, guard, ref)


#: The repository named in the path (an unknown one is 404), once the route's action is
#: allowed on it.
InRepository = Annotated[RepositoryTarget, Depends(_repository_target)]
