"""Domain errors → OCI error responses, in one place."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from starlette.responses import Response

from dockyard.errors import (
    AuthenticationError,
    ConflictError,
    DeniedError,
    DockyardError,
    EditionRequiredError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    StorageFullError,
    TooManyRequestsError,
    UnavailableError,
)
from dockyard.oci.digest import DigestError
from dockyard.oci.errorcodes import ErrorCode
from dockyard.oci.manifest import (
    ManifestInvalidError,
    ManifestTooLargeError,
    ManifestUnsupportedError,
)
from dockyard.oci.reference import NameInvalidError, TagInvalidError
from dockyard.services.content import (
    BlobUnknownError,
    DigestInvalidError,
    ManifestBlobUnknownError,
    ManifestUnknownError,
    RangeInvalidError,
    UploadUnknownError,
)
from dockyard.services.tenancy import NameUnknownError

log = structlog.get_logger(__name__)


class PaginationError(InvalidInputError):
    """``n`` is not a non-negative integer."""


API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")

#: Most specific first: the first matching class decides the code.
_CODES: list[tuple[type[DockyardError], ErrorCode]] = [
    (TooManyRequestsError, ErrorCode.TOOMANYREQUESTS),
    (NameInvalidError, ErrorCode.NAME_INVALID),
    (NameUnknownError, ErrorCode.NAME_UNKNOWN),
    (BlobUnknownError, ErrorCode.BLOB_UNKNOWN),
    (UploadUnknownError, ErrorCode.BLOB_UPLOAD_UNKNOWN),
    (ManifestUnknownError, ErrorCode.MANIFEST_UNKNOWN),
    (DigestInvalidError, ErrorCode.DIGEST_INVALID),
    (DigestError, ErrorCode.DIGEST_INVALID),
    (ManifestBlobUnknownError, ErrorCode.MANIFEST_BLOB_UNKNOWN),
    (ManifestUnsupportedError, ErrorCode.UNSUPPORTED),
    (ManifestInvalidError, ErrorCode.MANIFEST_INVALID),
    (TagInvalidError, ErrorCode.MANIFEST_INVALID),
    (RangeInvalidError, ErrorCode.RANGE_INVALID),
    (PaginationError, ErrorCode.PAGINATION_NUMBER_INVALID),
    (DeniedError, ErrorCode.DENIED),
    (LimitExceededError, ErrorCode.DENIED),
    (EditionRequiredError, ErrorCode.DENIED),
    (ConflictError, ErrorCode.DENIED),
    (AuthenticationError, ErrorCode.UNAUTHORIZED),
    (UnavailableError, ErrorCode.UNAVAILABLE),
    (NotFoundError, ErrorCode.NAME_UNKNOWN),
]


def error_response(
    code: ErrorCode,
    message: str | None = None,
    *,
    detail: Any = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    head: bool = False,
) -> Response:
    body = orjson.dumps(
        {
            "errors": [
                {"code": code.code, "message": message or code.default_message, "detail": detail}
            ]
        }
    )
    all_headers = {API_VERSION_HEADER[0]: API_VERSION_HEADER[1], **(headers or {})}
    if head:
        all_headers["Content-Length"] = str(len(body))
        return Response(
            status_code=status or code.status, headers=all_headers, media_type="application/json"
        )
    return Response(
        body, status_code=status or code.status, headers=all_headers, media_type="application/json"
    )


def response_for(exc: DockyardError, *, invalid: ErrorCode, head: bool = False) -> Response:
    """The OCI response for a domain error; ``invalid`` is the code for generic bad input."""
    status = None
    if isinstance(exc, StorageFullError):
        status = 507
    elif isinstance(exc, ManifestTooLargeError):
        status = 413
    elif isinstance(exc, ConflictError):
        status = 409
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return error_response(code, exc.message, detail=exc.detail, status=status, head=head)
    if isinstance(exc, InvalidInputError):
        return error_response(invalid, exc.message, detail=exc.detail, head=head)
    log.warning("unmapped domain error", error=type(exc).__name__, message=exc.message)
    return error_response(ErrorCode.UNAVAILABLE, exc.message, status=500, head=head)
