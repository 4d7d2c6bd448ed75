"""Storage driver failures leave the content service as domain errors, and the registry
answers them with the OCI codes and statuses clients saw before the mapping moved."""

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from starlette.responses import Response

from dockyard.errors import UnavailableError
from dockyard.oci.errorcodes import ErrorCode
from dockyard.registry.errors import response_for
from dockyard.services.content import RangeInvalidError, UploadUnknownError
from dockyard.services.content.errors import storage_as_domain, stream_as_domain
from dockyard.storage import StorageError, UploadMissingError

pytestmark = pytest.mark.unit


def _body(response: Response) -> dict[str, object]:
    error: dict[str, object] = orjson.loads(response.body)["errors"][0]
    return error


@storage_as_domain
async def _raising(exc: Exception) -> None:
    raise exc


def test_a_missing_upload_is_upload_unknown() -> None:
    with pytest.raises(UploadUnknownError, match="upload gone") as info:
        asyncio.run(_raising(UploadMissingError("upload gone")))
    response = response_for(info.value, invalid=ErrorCode.BLOB_UPLOAD_INVALID)
    assert response.status_code == 404
    assert _body(response)["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert _body(response)["message"] == "upload gone"


def test_any_other_driver_failure_is_unavailable() -> None:
    with pytest.raises(UnavailableError, match="disk on fire") as info:
        asyncio.run(_raising(StorageError("disk on fire")))
    response = response_for(info.value, invalid=ErrorCode.BLOB_UPLOAD_INVALID)
    assert response.status_code == 503
    assert _body(response)["code"] == "UNAVAILABLE"


def test_domain_errors_pass_through_unchanged() -> None:
    refusal = RangeInvalidError("chunk starts at 3, upload is at 5", 5)
    with pytest.raises(RangeInvalidError) as info:
        asyncio.run(_raising(refusal))
    assert info.value is refusal


def test_a_failing_stream_fails_as_unavailable() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise StorageError("connection reset")

    received: list[bytes] = []

    async def read() -> None:
        async for chunk in stream_as_domain(chunks()):
            received.append(chunk)

    with pytest.raises(UnavailableError, match="connection reset"):
        asyncio.run(read())
    assert received == [b"first"]
