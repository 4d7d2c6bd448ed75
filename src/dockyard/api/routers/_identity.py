"""What the identity routers share: the caller, RAM resource names, paths, and the routes
every aggregate repeats.

Organizations, users, groups, resource sets, roles, policies and logon policies answer the
same shapes: list, get (with its ETag), create, update (``If-Match``), delete, and PUT/DELETE
of a link to another aggregate. ``Aggregate`` builds those routes, so a router states only
what differs (path parameter, schema, service method, action, summary) and every one of them
authorizes, calls and answers the same way.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from dockyard.api.context import ApiServices, Authz, Guard, Services
from dockyard.api.routers._routes import Decorator, Endpoint, Tagged, answer, route
from dockyard.api.routers.params import IfMatch, Paging
from dockyard.api.schemas.common import Page
from dockyard.services.identity import AggregateService, Caller
from dockyard.services.paging import PageRequest

#: A name in a path: no control characters (they reach no row, and PostgreSQL refuses NUL).
Name = Annotated[str, Path(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")]
OrganizationId = Annotated[str, Path(min_length=1, max_length=64, description="A UUID")]

_Service = TypeVar("_Service", bound=AggregateService)
_Out = TypeVar("_Out", bound=BaseModel)
_Body = TypeVar("_Body", bound=BaseModel)


def caller(guard: Guard) -> Caller:
    """The caller of this request, for the service's sharing-scope checks and audit rows."""
    return Caller.of(guard.principal, guard.source_ip)


async def require(service: _Service, guard: Guard, path: str) -> _Service:
    """Authorize the route's action on ``acs:ram::$account:$path`` (``*``: list/create)."""
    guard.require(await service.ram_arn(path))
    return service


def _endpoint(body: Endpoint, params: dict[str, Any], *, optional: str = "") -> Endpoint:
    """``body``, called positionally, under the signature FastAPI reads: the parameters are
    named as in the path (``role_name``), which differs from one aggregate to the next;
    the ``optional`` one defaults to None."""

    async def endpoint(**values: Any) -> Any:
        return await body(*(values[name] for name in params))

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=annotation,
                default=None if name == optional else inspect.Parameter.empty,
            )
            for name, annotation in params.items()
        ]
    )
    return endpoint


@dataclass(frozen=True, slots=True)
class Narrow:
    """An optional query parameter of a list: the id of what they belong to."""

    #: Its name in the query (``organizationId``).
    alias: str
    #: Its description in the API reference (``Only its groups``).
    description: str

    @property
    def parameter(self) -> str:
        """The endpoint's parameter behind it (``organization_id``)."""
        return re.sub(r"(?<!^)([A-Z])", r"_\1", self.alias).lower()

    @property
    def annotation(self) -> Any:
        return Annotated[
            str | None, Query(alias=self.alias, max_length=64, description=self.description)
        ]


@dataclass(frozen=True, slots=True)
class Aggregate(Generic[_Service, _Out]):
    """The routes of one identity aggregate, on its router."""

    router: APIRouter
    #: Its service among the API's.
    service: Callable[[ApiServices], _Service]
    #: What its routes answer.
    out: type[_Out]
    #: The RAM resource type: ``role`` authorizes on ``acs:ram::$account:role/$name``.
    kind: str
    #: The path parameter naming one of them, and its type.
    key: str
    key_type: Any = Name

    @property
    def one(self) -> str:
        return f"/{{{self.key}}}"

    @property
    def page(self) -> type[Page[Any]]:
        return Page[self.out]  # type: ignore[name-defined]

    async def open(self, svc: ApiServices, guard: Guard, key: str | None = None) -> _Service:
        """The service, once the route's action is allowed on this one (None: on ``*``)."""
        return await require(self.service(svc), guard, "*" if key is None else f"{self.kind}/{key}")

    def respond(self, response: Response, view: Tagged) -> _Out:
        """The view as the route answers it, with its ETag."""
        return answer(self.out, response, view)

    def _route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        action: str,
        errors: Collection[int],
        **options: Any,
    ) -> Decorator:
        return route(self.router, method, path, action, summary, errors=errors, **options)

    def list(
        self,
        fetch: Callable[..., Awaitable[object]],
        *,
        name: str,
        summary: str,
        action: str,
        narrow: Narrow | None = None,
    ) -> None:
        """``GET ""``: one page of them; with ``narrow``, only those it names (when given),
        which ``fetch`` receives after the page."""

        async def body(paging: PageRequest, svc: ApiServices, guard: Guard, *by: Any) -> object:
            found = await fetch(await self.open(svc, guard), paging, *by)
            return self.page.model_validate(found)

        params: dict[str, Any] = {"paging": Paging, "svc": Services, "guard": Authz}
        if narrow is not None:
            params[narrow.parameter] = narrow.annotation
        self._route(
            "GET",
            "",
            summary=summary,
            action=action,
            errors=(),
            name=name,
            response_model=self.page,
        )(_endpoint(body, params, optional=narrow.parameter if narrow else ""))

    def get(
        self,
        fetch: Callable[[_Service, str], Awaitable[Tagged]],
        *,
        name: str,
        summary: str,
        action: str,
    ) -> None:
        """``GET /{key}``: one of them, with its ETag."""

        async def body(key: str, response: Response, svc: ApiServices, guard: Guard) -> _Out:
            return self.respond(response, await fetch(await self.open(svc, guard, key), key))

        params = {self.key: self.key_type, "response": Response, "svc": Services, "guard": Authz}
        self._route(
            "GET",
            self.one,
            summary=summary,
            action=action,
            errors=(),
            name=name,
            response_model=self.out,
        )(_endpoint(body, params))

    def create(
        self,
        payload: type[_Body],
        make: Callable[[_Service, Caller, _Body], Awaitable[Tagged]],
        *,
        name: str,
        summary: str,
        action: str,
    ) -> None:
        """``POST ""``: 201 with the new one, which ``make`` creates from the body."""

        async def body(data: _Body, response: Response, svc: ApiServices, guard: Guard) -> _Out:
            return self.respond(
                response, await make(await self.open(svc, guard), caller(guard), data)
            )

        params = {"body": payload, "response": Response, "svc": Services, "guard": Authz}
        self._route(
            "POST",
            "",
            summary=summary,
            action=action,
            errors=(409,),
            name=name,
            status_code=201,
            response_model=self.out,
        )(_endpoint(body, params))

    def update(
        self,
        payload: type[_Body],
        change: Callable[[_Service, Caller, str, _Body, str | None], Awaitable[Tagged]],
        *,
        name: str,
        summary: str,
        action: str,
        errors: Collection[int] = (409, 412),
    ) -> None:
        """``PATCH /{key}``: ``change`` applies the body, given the ``If-Match`` ETag."""

        async def body(
            key: str,
            data: _Body,
            response: Response,
            svc: ApiServices,
            guard: Guard,
            if_match: str | None,
        ) -> _Out:
            service = await self.open(svc, guard, key)
            return self.respond(response, await change(service, caller(guard), key, data, if_match))

        params = {
            self.key: self.key_type,
            "body": payload,
            "response": Response,
            "svc": Services,
            "guard": Authz,
            "if_match": IfMatch,
        }
        self._route(
            "PATCH",
            self.one,
            summary=summary,
            action=action,
            errors=errors,
            name=name,
            response_model=self.out,
        )(_endpoint(body, params, optional="if_match"))

    def delete(
        self,
        remove: Callable[[_Service, Caller, str], Awaitable[None]],
        *,
        name: str,
        summary: str,
        action: str,
        errors: Collection[int] = (409,),
    ) -> None:
        """``DELETE /{key}``: 204."""

        async def body(key: str, svc: ApiServices, guard: Guard) -> None:
            await remove(await self.open(svc, guard, key), caller(guard), key)

        params = {self.key: self.key_type, "svc": Services, "guard": Authz}
        self._route(
            "DELETE",
            self.one,
            summary=summary,
            action=action,
            errors=errors,
            name=name,
            status_code=204,
        )(_endpoint(body, params))

    def link(
        self,
        method: str,
        path: str,
        change: Callable[..., Awaitable[object]],
        *,
        name: str,
        summary: str,
        action: str,
        errors: Collection[int] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        """``PUT`` or ``DELETE /{key}/<path>``: link another one (or a resource) to this one,
        or unlink it (or forget a device of this one); answers this one. ``path`` names its
        parameters (``{role_name}``, each a ``Name`` unless ``params`` types them), which
        ``change`` receives after the caller and this one's key.
        """
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        typed = {part: (params or {}).get(part, Name) for part in names}

        async def body(key: str, *values: Any) -> _Out:
            *others, svc, guard = values
            service = await self.open(svc, guard, key)
            return self.out.model_validate(await change(service, caller(guard), key, *others))

        signature = {self.key: self.key_type, **typed, "svc": Services, "guard": Authz}
        self._route(
            method,
            f"{self.one}/{path}",
            summary=summary,
            action=action,
            errors=errors,
            name=name,
            response_model=self.out,
        )(_endpoint(body, signature))
