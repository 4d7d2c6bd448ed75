"""The HTTP side of Harbor's Pluggable Scanner API (v1.1): metadata, scan request, report.

Adapters are registered by administrators, so like replication remotes they are reached
at the address given (the webhook address guard does not apply); redirects are not
followed (a ``302`` from the report operation means "not ready yet") and no proxy settings
are read from the environment. An adapter's error answers (``{"error": {"message": …}}``)
become the failed scan's reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from dockyard import __version__
from dockyard.services.scanning.external import AdapterEndpoint, ExternalScanError

USER_AGENT = f"Dockyard/{__version__} (scanner client)"
METADATA_TYPE = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUEST_TYPE = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_RESPONSE_TYPE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Seconds to wait when a ``302`` names no usable ``Refresh-After``.
DEFAULT_REFRESH = 1.0
#: Characters of an unexpected answer kept in the reason.
MAX_EXCERPT = 300


def _reason(response: httpx.Response) -> str:
    """An error answer in words: the adapter's message when it sent one."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:MAX_EXCERPT]
    return f"HTTP {response.status_code}: {message}".rstrip(": ")


def _json(response: httpx.Response) -> Mapping[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise ExternalScanError(f"not JSON: {response.text[:MAX_EXCERPT]}") from None
    if not isinstance(document, Mapping):
        raise ExternalScanError(f"not a JSON object: {response.text[:MAX_EXCERPT]}")
    return document


class HarborScannerClient:
    """An :class:`~dockyard.services.scanning.external.AdapterClient` over httpx."""

    async def _call(
        self,
        endpoint: AdapterEndpoint,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
    ) -> httpx.Response:
        if endpoint.authorization:
            headers["Authorization"] = endpoint.authorization
        headers["User-Agent"] = USER_AGENT
        async with httpx.AsyncClient(
            timeout=TIMEOUT, follow_redirects=False, trust_env=False
        ) as client:
            try:
                return await client.request(
                    method, f"{endpoint.url}/api/v1{path}", headers=headers, content=body
                )
            except httpx.HTTPError as exc:
                raise ExternalScanError(
                    f"{endpoint.url} did not answer: {exc!r}"[:MAX_EXCERPT]
                ) from None

    async def metadata(self, endpoint: AdapterEndpoint) -> Mapping[str, Any]:
        response = await self._call(endpoint, "GET", "/metadata", {"Accept": METADATA_TYPE})
        if response.status_code != 200:
            raise ExternalScanError(f"metadata: {_reason(response)}")
        return _json(response)

    async def submit(self, endpoint: AdapterEndpoint, request: Mapping[str, Any]) -> str:
        body = json.dumps(request).encode()
        headers = {"Content-Type": SCAN_REQUEST_TYPE, "Accept": SCAN_RESPONSE_TYPE}
        response = await self._call(endpoint, "POST", "/scan", headers, body)
        if response.status_code != 202:
            raise ExternalScanError(f"scan request refused: {_reason(response)}")
        request_id = _json(response).get("id")
        if not request_id:
            raise ExternalScanError("the scan response has no id")
        return str(request_id)

    async def report(
        self, endpoint: AdapterEndpoint, request_id: str, report_type: str
    ) -> Mapping[str, Any] | float:
        path = f"/scan/{quote(request_id, safe='')}/report"
        response = await self._call(endpoint, "GET", path, {"Accept": report_type})
        if response.status_code == 302:
            try:
                return float(response.headers.get("Refresh-After", DEFAULT_REFRESH))
            except ValueError:
                return DEFAULT_REFRESH
        if response.status_code != 200:
            raise ExternalScanError(f"report: {_reason(response)}")
        return _json(response)
