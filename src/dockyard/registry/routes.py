"""The registry's ASGI entry: route /v2/... by regular expression, map errors to OCI.

Names are parsed after routing so that any path shape reaches a handler and gets a
precise NAME_INVALID instead of a bare 404.
"""

from __future__ import annotations

import re

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.errors import DeniedError, DockyardError, InvalidInputError
from dockyard.oci.errorcodes import ErrorCode
from dockyard.oci.reference import RepositoryName
from dockyard.registry import blobs, listing, manifests, uploads
from dockyard.registry.actors import actor_of
from dockyard.registry.auth import ChallengeError
from dockyard.registry.context import Call, RegistryServices
from dockyard.registry.endpoints import Creating, Endpoint, Existing, HotRead, RegistryWide
from dockyard.registry.errors import API_VERSION_HEADER, error_response, response_for
from dockyard.registry.token import TokenEndpoint
from dockyard.services.access import DELETE_TAG, LIST_REPOSITORY, PULL, PUSH
from dockyard.services.audit import Actor, AuditLog

log = structlog.get_logger(__name__)

_NAME = r"(?P<name>[^?#]+?)"
_BLOB_READ = HotRead(PULL, blobs.find_blob, blobs.get_blob)
_MANIFEST_READ = HotRead(PULL, manifests.find_manifest, manifests.get_manifest)
_ROUTES: list[tuple[re.Pattern[str], dict[str, Endpoint], ErrorCode]] = [
    (
        re.compile(r"^/v2/_catalog$"),
        {"GET": RegistryWide(LIST_REPOSITORY, listing.catalog)},
        ErrorCode.UNSUPPORTED,
    ),
    (
        re.compile(rf"^/v2/{_NAME}/blobs/uploads/?$"),
        {"POST": Creating(PUSH, uploads.start_upload)},
        ErrorCode.BLOB_UPLOAD_INVALID,
    ),
    (
        re.compile(rf"^/v2/{_NAME}/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {
            "PATCH": Existing(PUSH, uploads.patch_upload),
            "PUT": Existing(PUSH, uploads.put_upload),
            "GET": Existing(PUSH, uploads.get_upload),
            "DELETE": Existing(PUSH, uploads.delete_upload),
        },
        ErrorCode.BLOB_UPLOAD_INVALID,
    ),
    (
        re.compile(rf"^/v2/{_NAME}/blobs/(?P<digest>[^/]+)$"),
        {"GET": _BLOB_READ, "HEAD": _BLOB_READ, "DELETE": Existing(DELETE_TAG, blobs.delete_blob)},
        ErrorCode.DIGEST_INVALID,
    ),
    (
        re.compile(rf"^/v2/{_NAME}/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": _MANIFEST_READ,
            "HEAD": _MANIFEST_READ,
            "PUT": Creating(PUSH, manifests.put_manifest),
            "DELETE": Existing(DELETE_TAG, manifests.delete_manifest),
        },
        ErrorCode.MANIFEST_INVALID,
    ),
    (
        re.compile(rf"^/v2/{_NAME}/tags/list$"),
        {"GET": HotRead(PULL, listing.find_tags, listing.list_tags)},
        ErrorCode.PAGINATION_NUMBER_INVALID,
    ),
    (
        re.compile(rf"^/v2/{_NAME}/referrers/(?P<digest>[^/]+)$"),
        {"GET": Existing(PULL, listing.referrers)},
        ErrorCode.DIGEST_INVALID,
    ),
]

#: Each endpoint's action, as the table states it (read by the route-coverage test).
_ACTIONS: dict[Endpoint, str] = {
    endpoint: endpoint.action for _, endpoints, _ in _ROUTES for endpoint in endpoints.values()
}


class RegistryApp:
    """ASGI app for ``/v2/`` and ``/auth/token``."""

    def __init__(
        self,
        services: RegistryServices,
        token_endpoint: TokenEndpoint,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        self.services = services
        self.token_endpoint = token_endpoint
        #: Permission denials (403 DENIED) are audited; None: they are not.
        self.audit = audit

    def base_url(self, request: Request) -> str:
        if self.services.public_url:
            return self.services.public_url.rstrip("/")
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return f"{request.scope.get('scheme', 'http')}://{host}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.dispatch(request)
        response.headers.setdefault(*API_VERSION_HEADER)
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        # From the scope: building ``request.url`` costs more than some whole handlers.
        path, method = request.scope["path"], request.method
        head = method == "HEAD"
        invalid = ErrorCode.UNSUPPORTED
        try:
            route = await self.services.tenancy.route_host(request.headers.get("host", ""))
            # Endpoint allowlists: a client outside them cannot log in, pull or push.
            self.services.tenancy.check_source(
                route, request.client.host if request.client else None
            )
            instance = route.instance
            base_url = self.base_url(request)
            if path == "/auth/token":
                if method == "GET":
                    return await self.token_endpoint.get(request, instance)
                if method == "POST":
                    return await self.token_endpoint.post(request, instance)
                return error_response(ErrorCode.UNSUPPORTED, "method not allowed", status=405)
            if path in ("/v2", "/v2/"):
                if method not in ("GET", "HEAD"):
                    return error_response(
                        ErrorCode.UNSUPPORTED, "method not allowed", status=405, head=head
                    )
                await self.services.auth.require_login(request, base_url)
                return Response(b"{}" if not head else b"", media_type="application/json")
            for pattern, endpoints, route_invalid in _ROUTES:
                match = pattern.match(path)
                if match is None:
                    continue
                invalid = route_invalid
                endpoint = endpoints.get(method)
                if endpoint is None:
                    return error_response(
                        ErrorCode.UNSUPPORTED,
                        f"{method} is not allowed here",
                        status=405,
                        head=head,
                    )
                call = Call(request, self.services, instance, base_url, match.groupdict())
                try:
                    return await endpoint(call)
                except DeniedError as exc:
                    await self._audit_denial(call, endpoint.action, exc)
                    raise
            return error_response(
                ErrorCode.NAME_INVALID if path.startswith("/v2/") else ErrorCode.UNSUPPORTED,
                f"no registry endpoint at {path}",
                status=404,
                head=head,
            )
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening; the upload was rolled back
        except ChallengeError as exc:
            return error_response(
                ErrorCode.UNAUTHORIZED,
                exc.message,
                headers={"WWW-Authenticate": exc.challenge},
                head=head,
            )
        except DockyardError as exc:
            response = response_for(exc, invalid=invalid, head=head)
            current = getattr(exc, "current_size", None)
            if current is not None and current >= 0:
                response.headers["Range"] = f"0-{max(current - 1, 0)}"
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)
            return response

    async def _audit_denial(self, call: Call, action: str, exc: DeniedError) -> None:
        """Audit a 403 DENIED (never the credential): only a credential that verified is
        denied (a wrong one, or none, is challenged; a token lacking the scope is challenged
        again), so identifying the caller once more hits the verifier's cache."""
        if self.audit is None:
            return
        request = call.request
        try:
            actor = actor_of(call, await self.services.auth.identify(request, call.base_url, None))
        except DockyardError:
            actor = Actor("anonymous", None, request.client.host if request.client else "")
        name = call.params.get("name")
        try:
            resource = (
                call.instance.repository_arn(str(RepositoryName.parse(name))) if name else "*"
            )
        except InvalidInputError:
            resource = ""
        await self.audit.denied(
            actor,
            action,
            resource,
            {"method": request.method, "path": request.url.path, "reason": exc.message},
        )
