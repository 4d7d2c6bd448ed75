"""Image scanning through the API, below the clients: the edition gate on a Standard
instance, the policy's validation, and the actions a read-only user lacks. (Scans with real
images, syft and podman are in tests/e2e/test_image_scans.py.)"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import API, ApiClient, add_user, error, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def reader(registry: DockyardServer) -> Iterator[httpx.Client]:
    """A user of the built-in read-only policy (every cr:List*, cr:Get*)."""
    name, password = unique("scanreader"), "Rd-" + secrets.token_urlsafe(12)
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    with httpx.Client(base_url=registry.url + API, auth=(name, password)) as client:
        yield client


def test_standard_instances_are_refused_with_edition_required(
    api: ApiClient, standard: str
) -> None:
    api.create_namespace(standard, "std")
    api.create_repository(standard, "std", "app")
    repo = api.repo_path(standard, "std/app")
    message = error(api.post(f"{repo}/images/v1/scan"), 403, "EDITION_REQUIRED")["message"]
    assert "image scanning" in message and standard in message
    error(api.get(f"{repo}/images/v1/scan"), 403, "EDITION_REQUIRED")
    policy = f"/instances/{standard}/namespaces/std/scan-policy"
    error(api.get(policy), 403, "EDITION_REQUIRED")
    error(api.request("PUT", policy, json={"scanOnPush": True}), 403, "EDITION_REQUIRED")


def test_policies_are_validated_and_replaced_whole(api: ApiClient, advanced: str) -> None:
    api.create_namespace(advanced, "team")
    path = f"/instances/{advanced}/namespaces/team/scan-policy"
    assert api.ok(api.get(path)) == {
        "namespace": "team",
        "scanOnPush": False,
        "blockSeverity": None,
        "blockUnscanned": False,
        "allowlist": [],
    }
    body = {
        "blockSeverity": "high",
        "allowlist": [{"id": "CVE-2026-1", "expires": "2027-01-31"}, {"id": "GHSA-x"}],
    }
    assert api.ok(api.request("PUT", path, json=body)) == {
        "namespace": "team",
        "scanOnPush": False,
        "blockSeverity": "HIGH",
        "blockUnscanned": False,
        "allowlist": [
            {"id": "CVE-2026-1", "expires": "2027-01-31"},
            {"id": "GHSA-x", "expires": None},
        ],
    }
    error(api.request("PUT", path, json={"blockSeverity": "severe"}), 422, "VALIDATION_FAILED")
    bad_id = {"allowlist": [{"id": "no spaces please"}]}
    error(api.request("PUT", path, json=bad_id), 400, "INVALID_INPUT")
    error(api.get(f"/instances/{advanced}/namespaces/none/scan-policy"), 404, "NOT_FOUND")
    repo = api.repo_path(advanced, "team/absent")
    error(api.post(f"{repo}/images/v1/scan"), 404, "NOT_FOUND")


def test_a_reader_reads_the_database_state_but_imports_nothing(
    api: ApiClient, reader: httpx.Client
) -> None:
    assert set(reader.get("/vulndb").json()) == {"version", "importedAt", "records", "ecosystems"}
    error(reader.post("/vulndb/imports", content=b"[]"), 403, "DENIED")
    error(api.post("/vulndb/imports", content=b"{not json"), 400, "INVALID_INPUT")
