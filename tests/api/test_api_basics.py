"""The API as a whole: OpenAPI document, offline docs, authentication, the error shape,
request ids, paging, and the policy action every operation names."""

from __future__ import annotations

import re

import httpx
import pytest
from tests.api.conftest import API, ApiClient, add_user, error, sign_in, unique
from tests.conftest import DockyardServer

pytestmark = pytest.mark.e2e

#: (method, path) → action: the PRODUCT.md §3 table, plus the (design) instance actions.
EXPECTED_ACTIONS = {
    ("post", "/api/v1/auth/signin"): "none",
    ("post", "/api/v1/instances"): "cr:CreateInstance",
    ("get", "/api/v1/instances"): "cr:ListInstance",
    ("get", "/api/v1/instances/{instance_id}"): "cr:GetInstance",
    ("patch", "/api/v1/instances/{instance_id}"): "cr:UpdateInstance",
    ("delete", "/api/v1/instances/{instance_id}"): "cr:DeleteInstance",
    ("get", "/api/v1/instances/{instance_id}/limits"): "cr:GetInstance",
    ("get", "/api/v1/jobs"): "cr:InspectJob",
    ("post", "/api/v1/jobs/{job_id}/retry"): "cr:RetryJob",
    ("post", "/api/v1/instances/{instance_id}/namespaces"): "cr:CreateNamespace",
    ("get", "/api/v1/instances/{instance_id}/namespaces"): "cr:ListNamespace",
    ("get", "/api/v1/instances/{instance_id}/namespaces/{namespace}"): "cr:GetNamespace",
    ("patch", "/api/v1/instances/{instance_id}/namespaces/{namespace}"): "cr:UpdateNamespace",
    ("delete", "/api/v1/instances/{instance_id}/namespaces/{namespace}"): "cr:DeleteNamespace",
    ("get", "/api/v1/instances/{instance_id}/repositories"): "cr:ListRepository",
    ("post", "/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories"): (
        "cr:CreateRepository"
    ),
    ("get", "/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories"): (
        "cr:ListRepository"
    ),
}
_REPO = "/api/v1/instances/{instance_id}/namespaces/{namespace}/repositories/{repository}"
EXPECTED_ACTIONS |= {
    ("get", _REPO): "cr:GetRepository",
    ("patch", _REPO): "cr:UpdateRepository",
    ("delete", _REPO): "cr:DeleteRepository",
    ("get", _REPO + "/tags"): "cr:ListRepositoryTag",
    ("delete", _REPO + "/tags/{tag}"): "cr:DeleteRepositoryTag",
    ("get", _REPO + "/tags/{tag}/layers"): "cr:GetRepositoryLayers",
    ("get", _REPO + "/manifests/{reference}"): "cr:GetRepositoryManifest",
}
# Triggers (PRODUCT.md §7, issue 15 §3): all on the repository's ARN.
EXPECTED_ACTIONS |= {
    ("post", _REPO + "/triggers"): "cr:CreateRepoTrigger",
    ("get", _REPO + "/triggers"): "cr:ListRepoTrigger",
    ("get", _REPO + "/triggers/{name}"): "cr:GetRepoTrigger",
    ("patch", _REPO + "/triggers/{name}"): "cr:UpdateWebHook",
    ("delete", _REPO + "/triggers/{name}"): "cr:DeleteRepoTrigger",
    ("post", _REPO + "/triggers/{name}/ping"): "cr:UpdateWebHook",
    ("get", _REPO + "/trigger-records"): "cr:ListRepoTriggerRecord",
    ("post", _REPO + "/trigger-records/{record_id}/redeliver"): "cr:UpdateWebHook",
}
# Tag retention (issue 18): on the instance's ARN, as a policy may span namespaces.
_POLICIES = "/api/v1/instances/{instance_id}/retention-policies"
EXPECTED_ACTIONS |= {
    ("post", _POLICIES): "cr:CreateRetentionPolicy",
    ("get", _POLICIES): "cr:ListRetentionPolicy",
    ("get", _POLICIES + "/{name}"): "cr:GetRetentionPolicy",
    ("patch", _POLICIES + "/{name}"): "cr:UpdateRetentionPolicy",
    ("delete", _POLICIES + "/{name}"): "cr:DeleteRetentionPolicy",
    ("post", _POLICIES + "/{name}/runs"): "cr:ExecuteRetentionPolicy",
    ("get", _POLICIES + "/{name}/runs"): "cr:ListRetentionRun",
}
# Storage usage and quotas (issue 18): on the ARN of what they measure or limit.
_NS = "/api/v1/instances/{instance_id}/namespaces/{namespace}"
EXPECTED_ACTIONS |= {
    ("get", "/api/v1/instances/{instance_id}/usage"): "cr:GetUsage",
    ("get", _NS + "/usage"): "cr:GetUsage",
    ("get", _NS + "/usage/explain"): "cr:GetUsage",
    ("get", _REPO + "/usage"): "cr:GetUsage",
    ("put", _NS + "/quota"): "cr:UpdateQuota",
}
# Garbage collection (issue 18): deployment-wide, on "*".
EXPECTED_ACTIONS |= {
    ("post", "/api/v1/gc/runs"): "cr:RunGarbageCollection",
    ("get", "/api/v1/gc/runs"): "cr:ListGarbageCollectionRun",
    ("get", "/api/v1/gc/runs/{run_id}"): "cr:ListGarbageCollectionRun",
}
# The vulnerability database (issue 20): deployment-wide, on "*".
EXPECTED_ACTIONS |= {
    ("post", "/api/v1/vulndb/imports"): "cr:ImportVulnDb",
    ("get", "/api/v1/vulndb"): "cr:GetVulnDb",
}
# Image scans (issue 20): on the repository.
EXPECTED_ACTIONS |= {
    ("post", _REPO + "/images/{reference}/scan"): "cr:ScanImage",
    ("get", _REPO + "/images/{reference}/scan"): "cr:GetImageScan",
    ("get", _REPO + "/scans"): "cr:ListImageScan",
    ("get", _NS + "/scan-policy"): "cr:GetScanPolicy",
    ("put", _NS + "/scan-policy"): "cr:UpdateScanPolicy",
}
# Scanning an index, external scanner adapters (issue 20).
EXPECTED_ACTIONS |= {
    ("post", _REPO + "/images/{reference}/scans"): "cr:ScanImage",
    ("put", "/api/v1/scanners/{name}"): "cr:CreateExternalScanner",
    ("get", "/api/v1/scanners"): "cr:ListExternalScanner",
    ("delete", "/api/v1/scanners/{name}"): "cr:DeleteExternalScanner",
}
# Credentials (docs/identity.md "Credentials").
_KEYS = "/api/v1/users/{username}/access-keys"
EXPECTED_ACTIONS |= {
    ("put", "/api/v1/users/{username}/registry-password"): "ram:SetRegistryPassword",
    ("post", _KEYS): "ram:CreateAccessKey",
    ("get", _KEYS): "ram:ListAccessKeys",
    ("patch", _KEYS + "/{access_key_id}"): "ram:UpdateAccessKey",
    ("delete", _KEYS + "/{access_key_id}"): "ram:DeleteAccessKey",
    ("post", "/api/v1/auth/sts"): "sts:GetSessionToken",
    ("post", "/api/v1/auth/authorization-token"): "cr:GetAuthorizationToken",
}
# Audit log (docs/operations.md "Audit log").
EXPECTED_ACTIONS |= {("get", "/api/v1/audit-events"): "ram:ListAuditEvents"}

# Sign-in and identity management (PRODUCT.md §3, named like the guide; docs/identity.md).
EXPECTED_ACTIONS |= {
    ("post", "/api/v1/auth/mfa/bind"): "none",
    ("post", "/api/v1/auth/password"): "ram:ChangePassword",
    ("post", "/api/v1/auth/signout"): "none",
    ("post", "/api/v1/authorization/simulate"): "ram:SimulatePolicy",
    ("post", "/api/v1/groups"): "ram:CreateGroup",
    ("get", "/api/v1/groups"): "ram:ListGroups",
    ("get", "/api/v1/groups/{group_name}"): "ram:GetGroup",
    ("patch", "/api/v1/groups/{group_name}"): "ram:UpdateGroup",
    ("delete", "/api/v1/groups/{group_name}"): "ram:DeleteGroup",
    ("put", "/api/v1/groups/{group_name}/members/{username}"): "ram:AddUserToGroup",
    ("delete", "/api/v1/groups/{group_name}/members/{username}"): "ram:RemoveUserFromGroup",
    ("put", "/api/v1/groups/{group_name}/roles/{role_name}"): "ram:AttachRoleToGroup",
    ("delete", "/api/v1/groups/{group_name}/roles/{role_name}"): "ram:DetachRoleFromGroup",
    ("post", "/api/v1/logon-policies"): "ram:CreateLogonPolicy",
    ("get", "/api/v1/logon-policies"): "ram:ListLogonPolicies",
    ("get", "/api/v1/logon-policies/{name}"): "ram:GetLogonPolicy",
    ("patch", "/api/v1/logon-policies/{name}"): "ram:UpdateLogonPolicy",
    ("delete", "/api/v1/logon-policies/{name}"): "ram:DeleteLogonPolicy",
    ("post", "/api/v1/organizations"): "ram:CreateOrganization",
    ("get", "/api/v1/organizations"): "ram:ListOrganizations",
    ("get", "/api/v1/organizations/{organization_id}"): "ram:GetOrganization",
    ("patch", "/api/v1/organizations/{organization_id}"): "ram:UpdateOrganization",
    ("delete", "/api/v1/organizations/{organization_id}"): "ram:DeleteOrganization",
    ("post", "/api/v1/policies"): "ram:CreatePolicy",
    ("get", "/api/v1/policies"): "ram:ListPolicies",
    ("get", "/api/v1/policies/{policy_name}"): "ram:GetPolicy",
    ("patch", "/api/v1/policies/{policy_name}"): "ram:UpdatePolicy",
    ("delete", "/api/v1/policies/{policy_name}"): "ram:DeletePolicy",
    ("post", "/api/v1/resource-sets"): "ram:CreateResourceSet",
    ("get", "/api/v1/resource-sets"): "ram:ListResourceSets",
    ("get", "/api/v1/resource-sets/{set_name}"): "ram:GetResourceSet",
    ("patch", "/api/v1/resource-sets/{set_name}"): "ram:UpdateResourceSet",
    ("delete", "/api/v1/resource-sets/{set_name}"): "ram:DeleteResourceSet",
    ("put", "/api/v1/resource-sets/{set_name}/groups/{group_name}"): "ram:LinkResourceSetToGroup",
    (
        "delete",
        "/api/v1/resource-sets/{set_name}/groups/{group_name}",
    ): "ram:UnlinkResourceSetFromGroup",
    (
        "put",
        "/api/v1/resource-sets/{set_name}/namespaces/{instance_id}/{namespace}",
    ): "ram:AddResourceToResourceSet",
    (
        "delete",
        "/api/v1/resource-sets/{set_name}/namespaces/{instance_id}/{namespace}",
    ): "ram:RemoveResourceFromResourceSet",
    (
        "put",
        "/api/v1/resource-sets/{set_name}/repositories/{instance_id}/{namespace}/{repository}",
    ): "ram:AddResourceToResourceSet",
    (
        "delete",
        "/api/v1/resource-sets/{set_name}/repositories/{instance_id}/{namespace}/{repository}",
    ): "ram:RemoveResourceFromResourceSet",
    ("post", "/api/v1/roles"): "ram:CreateRole",
    ("get", "/api/v1/roles"): "ram:ListRoles",
    ("get", "/api/v1/roles/{role_name}"): "ram:GetRole",
    ("patch", "/api/v1/roles/{role_name}"): "ram:UpdateRole",
    ("delete", "/api/v1/roles/{role_name}"): "ram:DeleteRole",
    ("put", "/api/v1/roles/{role_name}/policies/{policy_name}"): "ram:AttachPolicyToRole",
    ("delete", "/api/v1/roles/{role_name}/policies/{policy_name}"): "ram:DetachPolicyFromRole",
    ("post", "/api/v1/users"): "ram:CreateUser",
    ("get", "/api/v1/users"): "ram:ListUsers",
    ("get", "/api/v1/users/{username}"): "ram:GetUser",
    ("patch", "/api/v1/users/{username}"): "ram:UpdateUser",
    ("delete", "/api/v1/users/{username}"): "ram:DeleteUser",
    ("put", "/api/v1/users/{username}/mfa"): "ram:SetUserMFA",
    ("delete", "/api/v1/users/{username}/mfa/device"): "ram:SetUserMFA",
    ("put", "/api/v1/users/{username}/password"): "ram:ResetPassword",
    ("put", "/api/v1/users/{username}/roles/{role_name}"): "ram:AttachRoleToUser",
    ("delete", "/api/v1/users/{username}/roles/{role_name}"): "ram:DetachRoleFromUser",
}
# Signing (issue 19): metadata namespaces on "metadata/$mns"; verification on "*".
_MNS = "/api/v1/instances/{instance_id}/metadata/namespaces"
_SIGNATURE_POLICIES = "/api/v1/instances/{instance_id}/signature-policies"
EXPECTED_ACTIONS |= {
    ("post", _MNS): "cr:CreateMetadataNamespace",
    ("get", _MNS): "cr:ListMetadataNamespace",
    ("get", _MNS + "/{namespace}"): "cr:GetMetadataNamespace",
    ("delete", _MNS + "/{namespace}"): "cr:DeleteMetadataNamespace",
    ("post", _MNS + "/{namespace}/notes"): "cr:CreateMetadataNote",
    ("get", _MNS + "/{namespace}/notes"): "cr:ListMetadataNote",
    ("get", _MNS + "/{namespace}/notes/{note}"): "cr:GetMetadataNote",
    ("delete", _MNS + "/{namespace}/notes/{note}"): "cr:DeleteMetadataNote",
    ("post", _MNS + "/{namespace}/occurrences"): "cr:CreateMetadataOccurrence",
    ("get", _MNS + "/{namespace}/occurrences"): "cr:ListMetadataOccurrences",
    ("delete", _MNS + "/{namespace}/occurrences/{occurrence}"): "cr:DeleteMetadataOccurrence",
    ("post", _MNS + "/{namespace}/public-keys"): "cr:CreateMetadataPublicKey",
    ("get", _MNS + "/{namespace}/public-keys"): "cr:ListMetadataPublicKey",
    ("delete", _MNS + "/{namespace}/public-keys/{fingerprint}"): "cr:DeleteMetadataPublicKey",
    ("get", _REPO + "/manifests/{reference}/signatures"): "cr:ListSignature",
    ("post", "/api/v1/instances/{instance_id}/admission"): "cr:ListSignature",
    ("post", _SIGNATURE_POLICIES): "cr:CreateSignaturePolicy",
    ("get", _SIGNATURE_POLICIES): "cr:ListSignaturePolicy",
    ("get", _SIGNATURE_POLICIES + "/{name}"): "cr:GetSignaturePolicy",
    ("delete", _SIGNATURE_POLICIES + "/{name}"): "cr:DeleteSignaturePolicy",
}
# Replication (issue 17): remotes on the instance, tasks on their source repository.
_REMOTES = "/api/v1/instances/{instance_id}/replication-remotes"
_TASKS = "/api/v1/instances/{instance_id}/replication-tasks"
_RULES = "/api/v1/instances/{instance_id}/replication-rules"
EXPECTED_ACTIONS |= {
    ("post", _REMOTES): "cr:CreateReplicationRemote",
    ("get", _REMOTES): "cr:ListReplicationRemote",
    ("delete", _REMOTES + "/{name}"): "cr:DeleteReplicationRemote",
    ("post", _REPO + "/replication-tasks"): "cr:CreateRepoSyncTask",
    ("get", _TASKS): "cr:ListRepoSyncTask",
    ("get", _TASKS + "/{task_id}"): "cr:GetRepoSyncTask",
    ("post", _TASKS + "/{task_id}/cancel"): "cr:CancelRepoSyncTask",
    ("post", _TASKS + "/{task_id}/retry"): "cr:CreateRepoSyncTask",
    ("post", _RULES): "cr:CreateRepoSyncRule",
    ("get", _RULES): "cr:ListRepoSyncRule",
    ("patch", _RULES + "/{name}"): "cr:UpdateRepoSyncRule",
    ("delete", _RULES + "/{name}"): "cr:DeleteRepoSyncRule",
}


def operations(doc: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete", "head", "options"}
    }


def test_openapi_document_every_operation_names_its_action(registry: DockyardServer) -> None:
    resp = httpx.get(f"{registry.url}{API}/openapi.json", timeout=60)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.")
    ops = operations(doc)
    missing = [f"{m.upper()} {p}" for (m, p), op in ops.items() if not op.get("x-dockyard-action")]
    assert not missing, f"operations without x-dockyard-action: {missing}"
    assert {k: op["x-dockyard-action"] for k, op in ops.items()} == EXPECTED_ACTIONS
    # Every operation documents the one error body.
    for (method, path), op in ops.items():
        for status in ("401", "404", "422"):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody"), (method, path, status)
    assert {"HTTPBearer", "HTTPBasic"} <= set(doc["components"]["securitySchemes"])


def test_docs_page_works_offline(registry: DockyardServer) -> None:
    page = httpx.get(f"{registry.url}{API}/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    # Nothing is loaded from another host: every src/href is a path on this server.
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith("/api/v1/") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    for url in urls:
        asset = httpx.get(registry.url + url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000
    assert "/api/v1/openapi.json" in page.text
    error(httpx.get(f"{registry.url}{API}/docs/assets/../../x"), 404, "NOT_FOUND")


def test_sign_in_bearer_and_basic(registry: DockyardServer) -> None:
    user, password = registry.admin
    resp = httpx.post(
        f"{registry.url}{API}/auth/signin", json={"username": user, "password": password}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["tokenType"] == "Bearer" and body["expiresIn"] > 0 and body["expiresAt"]
    bearer = httpx.get(
        f"{registry.url}{API}/instances", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert bearer.status_code == 200
    basic = httpx.get(f"{registry.url}{API}/instances", auth=registry.admin)
    assert basic.status_code == 200
    assert basic.json()["items"][0]["id"] == "default"


@pytest.mark.parametrize(
    ("headers", "auth"),
    [
        ({}, None),
        ({"Authorization": "Bearer not-a-token"}, None),
        ({"Authorization": "Digest abc"}, None),
        ({}, ("admin", "wrong password")),
        ({}, ("nobody", "whatever")),
    ],
)
def test_unauthenticated_requests_are_refused(
    registry: DockyardServer, headers: dict, auth: tuple[str, str] | None
) -> None:
    resp = httpx.get(f"{registry.url}{API}/instances", headers=headers, auth=auth)
    error(resp, 401, "UNAUTHORIZED")
    assert resp.headers["www-authenticate"].startswith("Bearer")


def test_wrong_sign_in_and_registry_tokens_are_not_sessions(registry: DockyardServer) -> None:
    resp = httpx.post(
        f"{registry.url}{API}/auth/signin", json={"username": "admin", "password": "nope"}
    )
    error(resp, 401, "UNAUTHORIZED")
    token = httpx.get(
        f"{registry.url}/auth/token",
        params={"service": "dockyard", "scope": "repository:a/b:pull"},
        auth=registry.admin,
    ).json()["token"]
    resp = httpx.get(f"{registry.url}{API}/instances", headers={"Authorization": f"Bearer {token}"})
    error(resp, 401, "UNAUTHORIZED")


def test_error_shape_for_unknown_routes_methods_and_validation(api: ApiClient) -> None:
    error(api.get("/no/such/route"), 404, "NOT_FOUND")
    resp = httpx.get(f"{api.server.url}/api/nothing")
    error(resp, 404, "NOT_FOUND")
    error(api.request("PUT", "/instances"), 405, "METHOD_NOT_ALLOWED")
    error(api.post("/instances", json={"name": "x"}), 422, "VALIDATION_FAILED")
    error(
        api.post("/instances", content=b"{not json", headers={"Content-Type": "application/json"}),
        422,
        "VALIDATION_FAILED",
    )
    error(api.get("/instances/UPPER"), 422, "VALIDATION_FAILED")
    error(api.get("/instances/cri-missing"), 404, "NOT_FOUND")


def test_request_id_is_echoed_or_made(api: ApiClient) -> None:
    made = api.get("/instances")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    given = api.get("/instances/cri-missing", headers={"X-Request-Id": "trace-12345678"})
    assert given.headers["x-request-id"] == "trace-12345678"
    assert given.json()["requestId"] == "trace-12345678"
    bad = api.get("/instances", headers={"X-Request-Id": "bad id!"})
    assert bad.headers["x-request-id"] != "bad id!"


def test_paging(api: ApiClient, standard: str) -> None:
    for i in range(7):
        api.create_namespace(standard, f"page{i}")
    path = f"/instances/{standard}/namespaces"
    first = api.ok(api.get(path, params={"page": 1, "pageSize": 3}))
    assert (first["page"], first["pageSize"], first["total"]) == (1, 3, 7)
    assert [n["name"] for n in first["items"]] == ["page0", "page1", "page2"]
    last = api.ok(api.get(path, params={"page": 3, "pageSize": 3}))
    assert [n["name"] for n in last["items"]] == ["page6"]
    beyond = api.ok(api.get(path, params={"page": 9, "pageSize": 3}))
    assert beyond["items"] == [] and beyond["total"] == 7
    default = api.ok(api.get(path))
    assert default["pageSize"] == 30 and len(default["items"]) == 7
    assert api.ok(api.get(path, params={"pageSize": 100}))["pageSize"] == 100
    for bad in ({"page": 0}, {"pageSize": 0}, {"pageSize": 101}, {"page": "x"}):
        error(api.get(path, params=bad), 422, "VALIDATION_FAILED")


def test_policies_decide_every_operation(registry: DockyardServer, api: ApiClient) -> None:
    """A read-only user may get and list, and is refused changes with DENIED."""
    name, password = unique("ro"), "Read0nly-" + unique()
    add_user(registry, name, password, "AliyunContainerRegistryReadOnlyAccess")
    reader = ApiClient(registry, token=sign_in(registry, name, password))
    basic_reader = ApiClient(registry, auth=(name, password))
    try:
        instance = api.create_instance("Advanced")["id"]
        api.create_namespace(instance, "shared")
        api.create_repository(instance, "shared", "app")
        for client in (reader, basic_reader):
            assert client.ok(client.get("/instances"))["total"] >= 2
            client.ok(client.get(f"/instances/{instance}/namespaces/shared"))
            client.ok(client.get(f"/instances/{instance}/repositories"))
            client.ok(client.get(f"/instances/{instance}/namespaces/shared/repositories/app/tags"))
        body = error(
            reader.post(f"/instances/{instance}/namespaces", json={"name": "mine"}), 403, "DENIED"
        )
        assert "cr:CreateNamespace" in body["message"]
        assert f"repository/{instance}/mine" in body["message"]
        error(reader.post("/instances", json={"name": "x", "region": "r"}), 403, "DENIED")
        body = error(reader.patch(f"/instances/{instance}", json={"name": "y"}), 403, "DENIED")
        assert f":instance/{instance}" in body["message"]
        error(reader.delete(f"/instances/{instance}/namespaces/shared"), 403, "DENIED")
        error(
            reader.delete(f"/instances/{instance}/namespaces/shared/repositories/app"),
            403,
            "DENIED",
        )
        # Nothing changed.
        api.ok(api.get(f"/instances/{instance}/namespaces/shared/repositories/app"))
    finally:
        reader.close()
        basic_reader.close()
