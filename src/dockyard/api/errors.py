"""Domain errors → the API's one error body, in one table.

Every error of the API, including request validation (422) and unknown routes (404), is
``{"code", "message", "requestId"}`` with the request id also in ``X-Request-Id``.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard import errors
from dockyard.api.schemas.common import ErrorBody
from dockyard.services.content import ImmutableTagError
from dockyard.services.signin import SignInRefusedError
from dockyard.services.tenancy import (
    DowngradeRefusedError,
    InstanceNotEmptyError,
    NamespaceNotEmptyError,
)

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
CHALLENGE = 'Bearer realm="dockyard-api"'

#: Most specific first: the first matching class decides status and code.
_CODES: list[tuple[type[errors.DockyardError], int, str]] = [
    (errors.PreconditionFailedError, 412, "PRECONDITION_FAILED"),
    (ImmutableTagError, 409, "TAG_IMMUTABLE"),
    (NamespaceNotEmptyError, 409, "NAMESPACE_NOT_EMPTY"),
    (InstanceNotEmptyError, 409, "INSTANCE_NOT_EMPTY"),
    (DowngradeRefusedError, 409, "DOWNGRADE_REFUSED"),
    (errors.LimitExceededError, 409, "LIMIT_EXCEEDED"),
    (errors.EditionRequiredError, 403, "EDITION_REQUIRED"),
    (errors.AlreadyExistsError, 409, "ALREADY_EXISTS"),
    (errors.ConflictError, 409, "CONFLICT"),
    (errors.NotFoundError, 404, "NOT_FOUND"),
    (errors.AuthenticationError, 401, "UNAUTHORIZED"),
    (errors.DeniedError, 403, "DENIED"),
    (errors.InvalidInputError, 400, "INVALID_INPUT"),
    (errors.UnavailableError, 503, "UNAVAILABLE"),
]

_HTTP_CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
}

#: The statuses documented on every operation; routes add their own.
COMMON_STATUSES = (400, 401, 403, 404, 422)


def status_and_code(exc: errors.DockyardError) -> tuple[int, str]:
    if isinstance(exc, SignInRefusedError):
        # Each refusal has its own code (the console acts on it); the body adds its fields.
        return 403, exc.code
    for cls, status, code in _CODES:
        if isinstance(exc, cls):
            return status, code
    return 500, "INTERNAL"


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """The one error body; ``extra`` adds documented fields of a code (never replaces the
    three)."""
    rid = request_id(request)
    body = ErrorBody(code=code, message=message, requestId=rid)
    all_headers = {REQUEST_ID_HEADER: rid, **(headers or {})}
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", CHALLENGE)
    content = {**(extra or {}), **body.model_dump()}
    return JSONResponse(content, status_code=status, headers=all_headers)


def responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` documenting the error body for each status."""
    return {
        s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, "Error")}
        for s in sorted({*COMMON_STATUSES, *statuses})
    }


_DESCRIPTIONS = {
    400: "Invalid input",
    401: "No valid credentials",
    403: "Not allowed (policy, edition, or endpoint allowlist)",
    404: "No such resource",
    409: "Conflict: exists already, limit exceeded, not empty, immutable tag",
    412: "If-Match does not match the current ETag",
    422: "The request does not match the schema",
}


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one body shape."""

    @app.exception_handler(errors.DockyardError)
    async def _domain(request: Request, exc: errors.DockyardError) -> JSONResponse:
        status, code = status_and_code(exc)
        if status >= 500:
            log.warning("unmapped domain error", error=type(exc).__name__, message=exc.message)
        if isinstance(exc, SignInRefusedError):
            retry = exc.fields.get("retryAfter")  # an account lock's
            headers = None if retry is None else {"Retry-After": str(retry)}
            return error_response(request, status, code, exc.message, headers, exc.fields)
        return error_response(request, status, code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(
            request, 422, "VALIDATION_FAILED", "; ".join(problems) or "invalid request"
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"nothing at {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(request, exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in the management API", path=request.url.path)
        return error_response(request, 500, "INTERNAL", "internal error; see the server log")
